"""Structure-aware mutation of valid encodings, and the fuzz time budget.

Random bytes rarely get past a decoder's first check (a magic, a msgpack type, a length).
These strategies start from real encodings and change them a little: bit flips, bytes set
to boundary values, truncations, deletions, insertions, duplicated ranges and splices of two
real messages, so most inputs are almost valid and reach the deep checks.

Budget: each fuzz target runs `examples` examples (its own default, chosen so that all of
tests/fuzz takes well under 30 s here); `FERNWARTUNG_FUZZ_EXAMPLES=N` sets every target to
N examples, `FERNWARTUNG_FUZZ_SECONDS=S` repeats each target with fresh random inputs until
it has run for S seconds:

    FERNWARTUNG_FUZZ_SECONDS=300 python -m pytest tests/fuzz -q
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

FUZZ_SECONDS = float(os.environ.get("FERNWARTUNG_FUZZ_SECONDS", "0"))
FUZZ_EXAMPLES = os.environ.get("FERNWARTUNG_FUZZ_EXAMPLES")

# Values at the edges of what length fields, type markers and ranges expect.
BOUNDARY_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
                  0xC3, 0xC4, 0xCA, 0xCB, 0xCC, 0xCF, 0xD0, 0xD3, 0xD9, 0xDC, 0xDD, 0xDE,
                  0xE0)  # fmt: skip
BOUNDARY_WORDS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=int(FUZZ_EXAMPLES) if FUZZ_EXAMPLES else examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


def fuzz_target(*strategies: st.SearchStrategy[Any], examples: int) -> Callable[..., Any]:
    """Turn `check(*drawn)` into a test that runs within the fuzz budget."""

    def decorate(check: Callable[..., None]) -> Callable[[], None]:
        run = fuzz_settings(examples)(given(*strategies)(check))

        def test() -> None:
            deadline = time.monotonic() + FUZZ_SECONDS
            run()
            while time.monotonic() < deadline:
                run()

        test.__name__ = check.__name__
        test.__doc__ = check.__doc__
        return test

    return decorate


def run_for_budget(run: Callable[[], None]) -> None:
    """Call `run` (a hypothesis-driven function) once, then again until the budget is spent."""
    deadline = time.monotonic() + FUZZ_SECONDS
    run()
    while time.monotonic() < deadline:
        run()


# bytes


def _position(draw: Callable[..., Any], data: bytearray) -> int:
    return draw(st.integers(0, len(data)))


def _flip_bit(draw: Callable[..., Any], data: bytearray, seeds: Sequence[bytes]) -> bytearray:
    if data:
        index = draw(st.integers(0, len(data) - 1))
        data[index] ^= 1 << draw(st.integers(0, 7))
    return data


def _set_byte(draw: Callable[..., Any], data: bytearray, seeds: Sequence[bytes]) -> bytearray:
    if data:
        index = draw(st.integers(0, len(data) - 1))
        data[index] = draw(st.sampled_from(BOUNDARY_BYTES) | st.integers(0, 255))
    return data


def _set_word(draw: Callable[..., Any], data: bytearray, seeds: Sequence[bytes]) -> bytearray:
    """A big-endian 32-bit boundary value over whatever is there (length fields)."""
    if len(data) >= 4:
        index = draw(st.integers(0, len(data) - 4))
        data[index : index + 4] = draw(st.sampled_from(BOUNDARY_WORDS)).to_bytes(4, "big")
    return data


def _truncate(draw: Callable[..., Any], data: bytearray, seeds: Sequence[bytes]) -> bytearray:
    return data[: _position(draw, data)]


def _delete(draw: Callable[..., Any], data: bytearray, seeds: Sequence[bytes]) -> bytearray:
    start = _position(draw, data)
    end = draw(st.integers(start, min(len(data), start + 16)))
    return data[:start] + data[end:]


def _insert(draw: Callable[..., Any], data: bytearray, seeds: Sequence[bytes]) -> bytearray:
    at = _position(draw, data)
    extra = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(BOUNDARY_BYTES).map(bytes_of))
    return data[:at] + extra + data[at:]


def _duplicate(draw: Callable[..., Any], data: bytearray, seeds: Sequence[bytes]) -> bytearray:
    start = _position(draw, data)
    end = draw(st.integers(start, min(len(data), start + 64)))
    at = _position(draw, data)
    return data[:at] + data[start:end] + data[at:]


def _splice(draw: Callable[..., Any], data: bytearray, seeds: Sequence[bytes]) -> bytearray:
    """The head of this input, the tail of another real one."""
    other = draw(st.sampled_from(seeds))
    cut = _position(draw, data)
    other_cut = draw(st.integers(0, len(other)))
    return data[:cut] + other[other_cut:]


def bytes_of(value: int) -> bytes:
    return bytes([value])


BYTE_MUTATIONS = (_flip_bit, _set_byte, _set_word, _truncate, _delete, _insert, _duplicate,
                  _splice)  # fmt: skip


@st.composite
def mutated_bytes(
    draw: Callable[..., Any], seeds: Sequence[bytes], max_mutations: int = 4
) -> bytes:
    """One of `seeds`, changed by 0 to `max_mutations` byte-level mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, max_mutations))):
        data = draw(st.sampled_from(BYTE_MUTATIONS))(draw, data, seeds)
    return bytes(data)


# text

TEXT_TOKENS = ('"', "\\", "{", "}", "[", "]", ",", ":", "null", "true", "1e999", "-0", "NaN",
               "Infinity", '"\\ud800"', '"type"', "9" * 30, "\x00", "é", "\u2028", " ", "-",
               ".", "\t", "\u00a0", "\u0663", "\uff13", "\n", "O", "0", "7")  # fmt: skip


@st.composite
def mutated_text(draw: Callable[..., Any], seeds: Sequence[str], max_mutations: int = 4) -> str:
    """One of `seeds`, with characters or tokens deleted, inserted, replaced or spliced."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, max_mutations))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(("insert", "delete", "replace", "truncate", "splice")))
        token = draw(st.sampled_from(TEXT_TOKENS) | st.text(min_size=1, max_size=3))
        if kind == "insert":
            text = text[:at] + token + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif kind == "replace":
            text = text[:at] + token + text[at + len(token) :]
        elif kind == "truncate":
            text = text[:at]
        else:
            other = draw(st.sampled_from(seeds))
            text = text[:at] + other[draw(st.integers(0, len(other))) :]
    return text


# values (for msgpack and JSON encodings: well-formed, wrong inside)

EDGE_INTS = (-(2**63), -(2**31), -1, 0, 1, 2, 255, 256, 16383, 16384, 2**31, 2**53 + 1,
             2**63 - 1, 2**64 - 1)  # fmt: skip
EDGE_FLOATS = (float("nan"), float("inf"), float("-inf"), -0.0, 1e308, -1.0, 16_725_225_601.0)

edge_values: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(EDGE_INTS),
    st.integers(),
    st.sampled_from(EDGE_FLOATS),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=40),
    st.sampled_from(("", "x" * 2001, "\x00", "ä", "Return", "0" * 13, "view", "jpeg", "fill")),
    st.binary(max_size=40),
    st.just(b"\x00" * 32),
    st.lists(st.integers(0, 5), max_size=3),
    st.lists(st.lists(st.integers(0, 64), max_size=7), max_size=2),
)


@st.composite
def mutated_value(draw: Callable[..., Any], value: Any, max_mutations: int = 3) -> Any:
    """A copy of a nested list/dict `value` with elements replaced, dropped or duplicated."""
    value = _copy(value)
    for _ in range(draw(st.integers(1, max_mutations))):
        containers = list(_containers(value))
        container = draw(st.sampled_from(containers))
        keys = list(range(len(container))) if isinstance(container, list) else list(container)
        kind = draw(st.sampled_from(("replace", "drop", "duplicate", "add")))
        if kind == "add" or not keys:
            if isinstance(container, list):
                container.insert(draw(st.integers(0, len(container))), draw(edge_values))
            else:
                container[draw(st.text(max_size=12))] = draw(edge_values)
            continue
        key = draw(st.sampled_from(keys))
        if kind == "replace":
            container[key] = draw(edge_values)
        elif kind == "drop":
            del container[key]
        elif isinstance(container, list):
            container.insert(key, _copy(container[key]))
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _containers(value: Any) -> Any:
    if isinstance(value, list | dict):
        yield value
        for child in value if isinstance(value, list) else value.values():
            yield from _containers(child)
