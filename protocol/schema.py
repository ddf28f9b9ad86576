"""Declarative field rules for message dataclasses, shared by the msgpack and JSON codecs.

A message is a frozen dataclass whose fields carry a rule (`Int`, `Text`, `Blob`, ...) in
their metadata. The same rules validate on construction, encoding and decoding, so a
decoded message is always one this side could have built itself.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from protocol.errors import ProtocolError

T = TypeVar("T")


class Rule:
    """Validates and converts one field value from its wire form."""

    def from_wire(self, name: str, value: Any) -> Any:
        raise NotImplementedError

    def to_wire(self, value: Any) -> Any:
        return value

    def check(self, name: str, value: Any) -> None:
        """Validate a field value as built (not its wire form), as strictly as from_wire."""
        self.from_wire(name, self.to_wire(value))


def _wrong(name: str, expected: str, value: Any) -> ProtocolError:
    return ProtocolError(f"field '{name}' must be {expected}, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Int(Rule):
    minimum: int
    maximum: int

    def from_wire(self, name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong(name, "a whole number", value)
        if not self.minimum <= value <= self.maximum:
            raise ProtocolError(f"field '{name}' must be between {self.minimum} and {self.maximum}")
        return value


@dataclass(frozen=True, slots=True)
class Float(Rule):
    minimum: float
    maximum: float

    def from_wire(self, name: str, value: Any) -> float:
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, float):
            raise _wrong(name, "a number", value)
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            raise ProtocolError(
                f"field '{name}' must be a finite number between {self.minimum} and {self.maximum}"
            )
        return value


@dataclass(frozen=True, slots=True)
class Flag(Rule):
    def from_wire(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise _wrong(name, "true or false", value)
        return value


@dataclass(frozen=True, slots=True)
class Text(Rule):
    max_chars: int
    pattern: str | None = None

    def from_wire(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _wrong(name, "text", value)
        if len(value) > self.max_chars:
            raise ProtocolError(f"field '{name}' is longer than {self.max_chars} characters")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ProtocolError(f"field '{name}' is not in the expected form")
        return value


@dataclass(frozen=True, slots=True)
class Blob(Rule):
    max_bytes: int
    exact_bytes: int | None = None

    def from_wire(self, name: str, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray):
            raise _wrong(name, "binary data", value)
        if self.exact_bytes is not None and len(value) != self.exact_bytes:
            raise ProtocolError(f"field '{name}' must be exactly {self.exact_bytes} bytes")
        if len(value) > self.max_bytes:
            raise ProtocolError(f"field '{name}' is larger than {self.max_bytes} bytes")
        return bytes(value)

    def check(self, name: str, value: Any) -> None:
        if type(value) is not bytes:  # as built: no copy to check it (a tile may be large)
            self.from_wire(name, value)
        elif len(value) > self.max_bytes or (
            self.exact_bytes is not None and len(value) != self.exact_bytes
        ):
            self.from_wire(name, value)  # which says what is wrong


@dataclass(frozen=True, slots=True)
class HexDigest(Rule):
    """Bytes that travel as lowercase hex text (for JSON)."""

    exact_bytes: int

    def from_wire(self, name: str, value: Any) -> bytes:
        if not isinstance(value, str) or not re.fullmatch(
            f"[0-9a-f]{{{2 * self.exact_bytes}}}", value
        ):
            raise ProtocolError(
                f"field '{name}' must be {2 * self.exact_bytes} lowercase hex digits"
            )
        return bytes.fromhex(value)

    def to_wire(self, value: bytes) -> str:
        return value.hex()


@dataclass(frozen=True, slots=True)
class Choice(Rule):
    enum_type: type[enum.Enum]

    def from_wire(self, name: str, value: Any) -> enum.Enum:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _wrong(name, "one of the known values", value)
        try:
            return self.enum_type(value)
        except ValueError:
            known = ", ".join(str(member.value) for member in self.enum_type)
            raise ProtocolError(f"field '{name}' must be one of: {known}") from None

    def to_wire(self, value: enum.Enum) -> Any:
        return value.value


@dataclass(frozen=True, slots=True)
class ListOf(Rule):
    item: Rule
    max_items: int

    def from_wire(self, name: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _wrong(name, "a list", value)
        if len(value) > self.max_items:
            raise ProtocolError(f"field '{name}' has more than {self.max_items} entries")
        return tuple(self.item.from_wire(f"{name}[{i}]", v) for i, v in enumerate(value))

    def to_wire(self, value: Sequence[Any]) -> list[Any]:
        return [self.item.to_wire(v) for v in value]

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, list | tuple):
            raise _wrong(name, "a list", value)
        if len(value) > self.max_items:
            raise ProtocolError(f"field '{name}' has more than {self.max_items} entries")
        item = self.item
        for index, entry in enumerate(value):
            item.check(f"{name}[{index}]", entry)


@dataclass(frozen=True, slots=True)
class Record(Rule):
    """A nested dataclass that travels as a positional list."""

    record_type: type

    def from_wire(self, name: str, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _wrong(name, "a list of fields", value)
        return from_values(self.record_type, value, where=name)

    def to_wire(self, value: Any) -> list[Any]:
        return to_values(value)

    def check(self, name: str, value: Any) -> None:
        # A nested record checked itself when it was built (its __post_init__).
        if type(value) is not self.record_type:
            raise _wrong(name, f"a {self.record_type.__name__}", value)


def rule(r: Rule, **kwargs: Any) -> Any:
    """Declare a dataclass field governed by rule `r`."""
    return dataclasses.field(metadata={"rule": r}, **kwargs)


@functools.cache
def _rules(cls: type) -> tuple[tuple[str, Rule], ...]:
    return tuple((f.name, f.metadata["rule"]) for f in dataclasses.fields(cls))


def check(instance: Any) -> None:
    """Validate a freshly built message as strictly as a decoded one (call in __post_init__)."""
    for name, r in _rules(type(instance)):
        r.check(name, getattr(instance, name))


def to_values(instance: Any) -> list[Any]:
    return [r.to_wire(getattr(instance, name)) for name, r in _rules(type(instance))]


def from_values(cls: type[T], values: Sequence[Any], where: str = "") -> T:
    rules = _rules(cls)
    label = where or cls.__name__
    if len(values) != len(rules):
        raise ProtocolError(f"{label} must have {len(rules)} fields, not {len(values)}")
    converted = {name: r.from_wire(name, v) for (name, r), v in zip(rules, values, strict=True)}
    return cls(**converted)


def to_mapping(instance: Any) -> dict[str, Any]:
    return {name: r.to_wire(getattr(instance, name)) for name, r in _rules(type(instance))}


def from_mapping(cls: type[T], mapping: Mapping[str, Any], ignore: frozenset[str]) -> T:
    rules = _rules(cls)
    expected = {name for name, _ in rules}
    present = set(mapping) - ignore
    optional = {
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING
    }
    if missing := expected - present - optional:
        raise ProtocolError(f"missing field(s): {', '.join(sorted(missing))}")
    if extra := present - expected:
        raise ProtocolError(f"unknown field(s): {', '.join(sorted(extra)[:5])}")
    return cls(**{name: r.from_wire(name, mapping[name]) for name, r in rules if name in present})
