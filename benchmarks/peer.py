"""Peer benchmark: fernwartung against x11vnc (and Xvnc) on the same Xvfb workloads.

    python3 benchmarks/peer.py [--link none|dsl|mobile] [--seconds N] [--scenarios a,b]
                               [--systems a,b] [--out DIR]

Needs apt packages xvfb, xdotool, xterm, x11vnc (and tigervnc-standalone-server for Xvnc).
See benchmarks/peer/main.py for what is measured and how.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script: make the repository importable (benchmarks.peer, and its workloads
# started with `python -m benchmarks.peer.workload` from the repository root).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peer.main import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
