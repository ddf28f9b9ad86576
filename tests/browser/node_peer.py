"""Drive tests/browser/peer.mjs (the browser viewer's modules in node) from a python test.

One JSON command per line in, one JSON reply per line out; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PEER = HERE / "peer.mjs"
REPLY_TIMEOUT_SECONDS = 30.0


def node_binary() -> str:
    """Node.js, or a failing test that says how to get it (node 20.19 or newer)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the browser viewer's tests need Node.js 20.19 or newer")
    return node


class JsError(Exception):
    """The JS side raised: `name` is its class (WrongCode, ProtocolError, ...)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class NodePeer:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [node_binary(), str(PEER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=HERE,
            env={**os.environ, "NODE_OPTIONS": ""},
        )
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)
        self._buffer = b""

    def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")
        self.process.stdin.flush()
        while b"\n" not in self._buffer:
            if not self._selector.select(REPLY_TIMEOUT_SECONDS):
                raise TimeoutError(f"the JS peer did not answer '{cmd}' in time")
            chunk = os.read(self.process.stdout.fileno(), 1 << 20)
            if not chunk:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"the JS peer exited: {stderr[-2000:]}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            raise JsError(reply["error"]["class"], reply["error"]["message"])
        return reply

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self._selector.close()
