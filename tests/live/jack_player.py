"""Helper process for the JACK tests: a PortAudio client that plays a clip and records its input.

Usage: python jack_player.py CLIENT CLIP.npy OUT.npy GO_FILE SECONDS
Streams silence until GO_FILE exists, then plays CLIP (float32, 48 kHz mono) from its start while
recording SECONDS of input; saves the recording to OUT.npy, the number of callbacks PortAudio flagged
with an xrun (during playback) to OUT.xruns, and exits.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    client, clip_path, out_path, go_file, seconds = sys.argv[1:6]
    from scrapl_live.live.stream import set_jack_client_name

    set_jack_client_name(client)
    import sounddevice as sd

    clip = np.load(clip_path).astype(np.float32)
    rec = np.zeros(int(float(seconds) * 48000), dtype=np.float32)
    state = {"go": False, "pos": 0, "xruns": 0}

    def callback(indata, outdata, frames, time_info, status) -> None:  # noqa: ANN001 - PortAudio signature
        outdata.fill(0.0)
        if not state["go"]:
            return
        state["xruns"] += bool(status)
        p = state["pos"]
        n = max(0, min(frames, clip.size - p))
        outdata[:n, 0] = clip[p : p + n]
        m = max(0, min(frames, rec.size - p))
        rec[p : p + m] = indata[:m, 0]
        state["pos"] = p + frames

    with sd.Stream(samplerate=48000, blocksize=256, channels=1, dtype="float32", callback=callback):
        while not Path(go_file).exists():
            time.sleep(0.01)
        state["go"] = True
        while state["pos"] < rec.size:
            time.sleep(0.05)
    np.save(out_path, rec)
    Path(out_path).with_suffix(".xruns").write_text(str(state["xruns"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
