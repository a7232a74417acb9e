#!/usr/bin/env bash
# Runs the test-suite against real parts: starts a JACK server on its dummy driver (a real audio
# graph and MIDI ports without a sound card) unless one is already running, then pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
export JACK_NO_AUDIO_RESERVATION=1
started_jack=""
# `jack_wait -c` exits 0 either way; it prints "running" or "not running".
jack_running() { [ "$(JACK_NO_START_SERVER=1 jack_wait -c 2>/dev/null)" = "running" ]; }
if command -v jackd >/dev/null 2>&1 && ! jack_running; then
  if ! ps -C jackd,jackdbus -o stat= | grep -qv Z; then  # a killed server leaves files that block a new one
    rm -f /dev/shm/jack_default_"$(id -u)"_* /dev/shm/jack_sem."$(id -u)"_default_*
  fi
  jackd --no-realtime -d dummy -r 48000 -p 256 >/tmp/scrapl-live-jackd.log 2>&1 &
  started_jack=$!
  if JACK_NO_START_SERVER=1 jack_wait -w -t 10 >/dev/null 2>&1 && jack_running; then
    echo "JACK dummy server started (pid $started_jack)"
  else
    echo "warning: JACK did not start; its log:"; cat /tmp/scrapl-live-jackd.log
  fi
fi
python3 -m pytest "$@"
rc=$?
if [ -n "$started_jack" ]; then kill "$started_jack" 2>/dev/null; wait "$started_jack" 2>/dev/null; fi
exit $rc
