"""Timed pointer and keyboard input for the headless viewer (`--input-script FILE.jsonl`).

One JSON object per line; blank lines and lines starting with ``#`` are skipped. ``at`` is
seconds after the first frame update was applied (so the screen is known), and the steps
must be in order of ``at``. Coordinates are remote screen pixels. The host injects input
only while the customer has granted view-and-control.

    {"at": 0.5, "type": "move", "x": 10, "y": 20}
    {"at": 0.6, "type": "click", "x": 10, "y": 20, "button": "left"}   # move, press, release
    {"at": 0.7, "type": "press", "x": 10, "y": 20, "button": "right"}  # button down only
    {"at": 0.8, "type": "release", "x": 10, "y": 20, "button": "right"}
    {"at": 0.9, "type": "scroll", "x": 10, "y": 20, "dx": 0, "dy": -3}
    {"at": 1.0, "type": "type", "text": "hello\\n"}        # per character; \\n Return, \\t Tab
    {"at": 1.5, "type": "key", "key": "Return"}            # press and release
    {"at": 1.6, "type": "key", "key": "c", "modifiers": ["Control_L"]}
    {"at": 1.7, "type": "key_down", "key": "Shift_L"}      # and "key_up"

`button` is left (the default), middle or right; for scroll, dy > 0 scrolls up and dx > 0
right (pynput's convention). A key is one printable character or an X
keysym name from protocol.keys (Return, BackSpace, Left, F5, Control_L, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol import keys, messages
from protocol.errors import FernwartungError, ProtocolError

MAX_SCRIPT_STEPS = 100_000
MAX_SCRIPT_SECONDS = 24 * 3600.0
_TEXT_KEYS = {"\n": "Return", "\t": "Tab"}


class InputScriptError(FernwartungError):
    """An input script line cannot be used; the message names the line."""


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """Messages to send together, `at` seconds after the first frame."""

    at: float
    messages: tuple[messages.Message, ...]


def _number(entry: dict[str, Any], name: str, default: float | None = None) -> Any:
    value = entry.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' must be a number")
    return value


def _key(name: Any) -> str:
    if not isinstance(name, str) or not keys.is_known_key(name):
        raise ValueError("'key' must be one printable character or a known key name")
    return name


def _pointer(entry: dict[str, Any]) -> tuple[int, int]:
    x, y = _number(entry, "x"), _number(entry, "y")
    if not (isinstance(x, int) and isinstance(y, int)):
        raise ValueError("'x' and 'y' must be whole pixels")
    return x, y


def _button(entry: dict[str, Any]) -> messages.Button:
    return messages.Button(entry.get("button", "left"))


def _key_tap(key: str, modifiers: Iterable[str] = ()) -> list[messages.Message]:
    held = [_key(modifier) for modifier in modifiers]
    result: list[messages.Message] = [messages.Key(m, True) for m in held]
    result += [messages.Key(key, True), messages.Key(key, False)]
    result += [messages.Key(m, False) for m in reversed(held)]
    return result


def _messages_for(entry: dict[str, Any]) -> list[messages.Message]:
    kind = entry.get("type")
    if kind == "move":
        return [messages.PointerMove(*_pointer(entry))]
    if kind == "click":
        x, y = _pointer(entry)
        button = _button(entry)
        return [
            messages.PointerMove(x, y),
            messages.PointerButton(x, y, button, True),
            messages.PointerButton(x, y, button, False),
        ]
    if kind in ("press", "release"):
        return [messages.PointerButton(*_pointer(entry), _button(entry), kind == "press")]
    if kind == "scroll":
        dx, dy = int(_number(entry, "dx", 0)), int(_number(entry, "dy", 0))
        return [messages.Scroll(*_pointer(entry), dx, dy)]
    if kind == "type":
        text = entry.get("text")
        if not isinstance(text, str):
            raise ValueError("'text' must be a string")
        result: list[messages.Message] = []
        for character in text:
            result += _key_tap(_key(_TEXT_KEYS.get(character, character)))
        return result
    if kind == "key":
        modifiers = entry.get("modifiers", [])
        if not isinstance(modifiers, list):
            raise ValueError("'modifiers' must be a list of key names")
        return _key_tap(_key(entry.get("key")), modifiers)
    if kind in ("key_down", "key_up"):
        return [messages.Key(_key(entry.get("key")), kind == "key_down")]
    raise ValueError(
        "'type' must be one of move, click, press, release, scroll, type, key, key_down, key_up"
    )


def parse_input_script(lines: Iterable[str]) -> list[ScriptStep]:
    """The steps of a script, validated; raises InputScriptError naming the bad line."""
    steps: list[ScriptStep] = []
    previous_at = 0.0
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if len(steps) >= MAX_SCRIPT_STEPS:
            raise InputScriptError(f"an input script has at most {MAX_SCRIPT_STEPS} steps")
        try:
            entry = json.loads(text)
            if not isinstance(entry, dict):
                raise ValueError("each line must be a JSON object")
            at = float(_number(entry, "at"))
            if not 0.0 <= at <= MAX_SCRIPT_SECONDS:
                raise ValueError(f"'at' must be between 0 and {MAX_SCRIPT_SECONDS:.0f} seconds")
            if at < previous_at:
                raise ValueError("steps must be in order of 'at'")
            step = ScriptStep(at, tuple(_messages_for(entry)))
        except (ValueError, TypeError, ProtocolError) as error:
            raise InputScriptError(f"input script line {number}: {error}") from None
        previous_at = at
        steps.append(step)
    return steps


def load_input_script(path: Path) -> list[ScriptStep]:
    try:
        with path.open(encoding="utf-8") as file:
            return parse_input_script(file)
    except OSError as error:
        raise InputScriptError(f"cannot read the input script ({error.strerror})") from None
