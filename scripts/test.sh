#!/usr/bin/env bash
# Runs the test-suite against real parts: starts a JACK server on its dummy driver (a real audio
# graph and MIDI ports without a sound card) unless one is already running, then pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
export JACK_NO_AUDIO_RESERVATION=1
started_jack=""
if command -v jackd >/dev/null 2>&1 && ! jack_wait -c >/dev/null 2>&1; then
  jackd --no-realtime -d dummy -r 48000 -p 256 >/tmp/scrapl-live-jackd.log 2>&1 &
  started_jack=$!
  jack_wait -w -t 10 >/dev/null 2>&1 || echo "warning: JACK did not start (see /tmp/scrapl-live-jackd.log)"
fi
python3 -m pytest "$@"
rc=$?
[ -n "$started_jack" ] && kill "$started_jack" 2>/dev/null
exit $rc
