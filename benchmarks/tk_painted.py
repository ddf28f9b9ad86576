"""The Tk viewer as `fernwartung viewer --ui tk` runs it, noting when each frame update's
pixels are on its canvas: for benchmarks/browser_peer.py, which compares change -> canvas
of the Tk viewer and the browser viewer.

    python -m benchmarks.tk_painted PAINTED.jsonl VIEWER-ARGS...

One JSON line per frame update drawn: `seq`, `capture_ts` (host), `recv_ts` (arrival) and
`painted_ts` (after the Tk canvas was updated and its idle tasks, the drawing, ran), all
wall-clock seconds. Nothing of the viewer is changed: two of its methods are wrapped here.
"""

from __future__ import annotations

import json
import sys
import time

from fernwartung.cli import main
from viewer import ui_tk
from viewer.client import FrameApplied


def install(path: str) -> None:
    out = open(path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the run
    take, draw = ui_tk.TkViewer._take, ui_tk.TkViewer._draw
    pending: list = []

    def noting_take(self, event):  # type: ignore[no-untyped-def]
        if isinstance(event, FrameApplied):
            pending.append(event.stat)
        return take(self, event)

    def noting_draw(self, regions):  # type: ignore[no-untyped-def]
        draw(self, regions)
        self.root.update_idletasks()
        painted = time.time()
        for stat in pending:
            record = {"seq": stat.seq, "capture_ts": stat.capture_ts,
                      "recv_ts": stat.recv_ts, "painted_ts": painted}  # fmt: skip
            out.write(json.dumps(record) + "\n")
        pending.clear()

    ui_tk.TkViewer._take = noting_take
    ui_tk.TkViewer._draw = noting_draw


if __name__ == "__main__":
    install(sys.argv[1])
    sys.exit(main(["viewer", *sys.argv[2:]]))
