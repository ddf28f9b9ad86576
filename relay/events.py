"""The relay's event log: one line per event, plain `key=value` text or JSON lines.

Callers pass only safe fields (event names, ledger ids, addresses, reasons, counts); a
token, code or payload never reaches this module.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TextIO


class EventLog:
    def __init__(self, *, json_lines: bool = False, stream: TextIO | None = None) -> None:
        self._json_lines = json_lines
        self._stream = stream

    def event(self, name: str, **fields: object) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        time = datetime.now(UTC).isoformat(timespec="milliseconds")
        if self._json_lines:
            line = json.dumps({"time": time, "event": name, **fields}, default=str)
        else:
            parts = [time, name, *(f"{key}={_text(value)}" for key, value in fields.items())]
            line = " ".join(parts)
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed log stream must not take the relay down


def _text(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text)
    return text
