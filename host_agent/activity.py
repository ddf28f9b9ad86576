"""The activity log the customer reads: every injected input, summarised into short lines.

Sans-I/O and clock-free: feed each *injected* input message with the time it happened and
collect finished entries; call `flush(now)` at least every `FLUSH_EVERY_SECONDS` so a burst
of typing, scrolling or mouse movement appears while it goes on (a line at least once a
second) and once it pauses. Typed characters are counted, never shown; every other key is
named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol import keys as key_names
from protocol.messages import Button, Key, Message, PointerButton, PointerMove, Scroll

BURST_IDLE_SECONDS = 1.0
# A burst still going on is reported this long after it began (and begins anew); with a
# flush every FLUSH_EVERY_SECONDS the log shows it at least once a second.
BURST_REPORT_SECONDS = 0.75
FLUSH_EVERY_SECONDS = 0.25
DRAG_THRESHOLD_PIXELS = 4
_MODIFIER_PREFIXES = {"Control": "Control", "Alt": "Alt", "Super": "Super", "Meta": "Alt"}
_CLICK_TEXT = {Button.LEFT: "act_clicks", Button.RIGHT: "act_right_clicks",
               Button.MIDDLE: "act_middle_clicks"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """One line of the log: a text key of `texts.py`, its values, and when it happened."""

    time: float
    text: str
    values: tuple[tuple[str, object], ...] = ()

    def render(self, texts) -> str:  # type: ignore[no-untyped-def]
        values = dict(self.values)
        if "key" in values:
            values["key"] = "+".join(texts.key_name(part) for part in str(values["key"]).split("+"))
        return texts(self.text, **values)


def entry(time: float, text: str, **values: object) -> ActivityEntry:
    return ActivityEntry(time, text, tuple(sorted(values.items())))


@dataclass(slots=True)
class _Burst:
    kind: str  # "type", "move" or "scroll"
    started: float
    last: float
    count: int = 0
    x: int = 0
    y: int = 0


@dataclass
class ActivitySummary:
    """Turns injected inputs into readable entries."""

    entries: list[ActivityEntry] = field(default_factory=list)
    _burst: _Burst | None = None
    _pressed_at: dict[Button, tuple[int, int]] = field(default_factory=dict)
    _modifiers: set[str] = field(default_factory=set)

    def add(self, message: Message, now: float) -> list[ActivityEntry]:
        """Record one injected input; returns the entries that are now complete."""
        out = self.flush(now)
        if isinstance(message, PointerMove):
            out += self._continue("move", now, x=message.x, y=message.y)
        elif isinstance(message, Scroll):
            out += self._continue("scroll", now, x=message.x, y=message.y)
        elif isinstance(message, PointerButton):
            out += self._button(message, now)
        elif isinstance(message, Key):
            out += self._key(message, now)
        self.entries += out
        return out

    def flush(self, now: float, *, force: bool = False) -> list[ActivityEntry]:
        """Close a burst that has been idle long enough or has gone on long enough to be
        reported (or any burst when forced)."""
        burst = self._burst
        if burst is None:
            return []
        idle = now - burst.last >= BURST_IDLE_SECONDS
        long_enough = now - burst.started >= BURST_REPORT_SECONDS
        if not (force or idle or long_enough):
            return []
        self._burst = None
        return [self._burst_entry(burst)]

    def _burst_entry(self, burst: _Burst) -> ActivityEntry:
        if burst.kind == "type":
            key = "act_types_one" if burst.count == 1 else "act_types"
            return entry(burst.started, key, count=burst.count)
        if burst.kind == "scroll":
            return entry(burst.started, "act_scrolls", x=burst.x, y=burst.y)
        return entry(burst.started, "act_moves", x=burst.x, y=burst.y)

    def _continue(self, kind: str, now: float, **values: int) -> list[ActivityEntry]:
        out: list[ActivityEntry] = []
        if self._burst is not None and self._burst.kind != kind:
            out.append(self._burst_entry(self._burst))
            self._burst = None
        if self._burst is None:
            self._burst = _Burst(kind, now, now)
        self._burst.last = now
        self._burst.count += 1
        if kind != "scroll" or self._burst.count == 1:
            self._burst.x = values.get("x", 0)
            self._burst.y = values.get("y", 0)
        return out

    def _close_burst(self, *, drop_moves: bool = False) -> list[ActivityEntry]:
        burst, self._burst = self._burst, None
        if burst is None or (drop_moves and burst.kind == "move"):
            return []
        return [self._burst_entry(burst)]

    def _button(self, message: PointerButton, now: float) -> list[ActivityEntry]:
        # A move right before a click says nothing the click line does not.
        out = self._close_burst(drop_moves=True)
        if message.pressed:
            self._pressed_at[message.button] = (message.x, message.y)
            return out
        start = self._pressed_at.pop(message.button, None)
        if start is None:
            return out
        x, y = start
        moved = abs(message.x - x) + abs(message.y - y)
        if moved > DRAG_THRESHOLD_PIXELS:
            out.append(entry(now, "act_drags", x=x, y=y, x2=message.x, y2=message.y))
        else:
            out.append(entry(now, _CLICK_TEXT[message.button], x=x, y=y))
        return out

    def _key(self, message: Key, now: float) -> list[ActivityEntry]:
        name = message.key
        if name in key_names.MODIFIER_KEYS:
            prefix = name.split("_")[0]
            if prefix in _MODIFIER_PREFIXES:
                if message.pressed:
                    self._modifiers.add(_MODIFIER_PREFIXES[prefix])
                else:
                    self._modifiers.discard(_MODIFIER_PREFIXES[prefix])
            return []
        if not message.pressed:
            return []
        printable = len(name) == 1 or name == "space"
        if printable and not self._modifiers:
            return self._continue("type", now)
        out = self._close_burst()
        combo = "+".join([*sorted(self._modifiers), name.upper() if len(name) == 1 else name])
        out.append(entry(now, "act_presses", key=combo))
        return out
