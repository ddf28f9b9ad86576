"""Connections not yet admitted, counted per address, and the line where those over a cap
wait unread for their turn.

A connection is admitted once its register, join or resume was accepted (it then has a
session); until then it is a stranger, and what a stranger may cost is bounded: a first
message of at most `max_first_message_bytes` (relay/connection.py), and at most
`max_unadmitted_per_ip` strangers from one address at once (`AddressSlots`). A connection
over that cap, or over the TLS handshake caps, is not closed: it waits in a `WaitingLine`,
nothing of it read, until a slot of its address frees or its own deadline passes. A busy
minute then costs a customer a short wait instead of a failed session, and an address that
opens hundreds of connections holds no more than its share of the relay.

Nothing here knows sockets: the owner of a line (relay/tls_transport.py at accept,
relay/server.py at the HTTP request behind a proxy) decides what waits and how it starts.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class AddressSlots:
    """At most `per_address` holders per address at once (the strangers of one address)."""

    def __init__(self, per_address: int) -> None:
        self.per_address = per_address
        self._held: dict[str, int] = {}

    def has_room(self, address: str) -> bool:
        return self._held.get(address, 0) < self.per_address

    def take(self, address: str) -> None:
        self._held[address] = self._held.get(address, 0) + 1

    def give_back(self, address: str) -> None:
        left = self._held.pop(address) - 1
        if left:
            self._held[address] = left

    def held(self, address: str) -> int:
        return self._held.get(address, 0)

    def __len__(self) -> int:
        """Holders in all."""
        return sum(self._held.values())


class Waiter(Generic[T]):
    """One place in the line: what waits, from where, until when."""

    __slots__ = ("address", "item", "deadline", "waiting")

    def __init__(self, address: str, item: T, deadline: float) -> None:
        self.address = address
        self.item = item
        self.deadline = deadline
        self.waiting = True


class WaitingLine(Generic[T]):
    """Connections waiting for their turn: first come, first served per address, each until
    its deadline; at most `per_address` wait from one address and `in_all` together (the
    owner closes what does not fit, or stops accepting)."""

    def __init__(self, per_address: int, in_all: int) -> None:
        self.per_address = per_address
        self.in_all = in_all
        self._by_address: dict[str, collections.deque[Waiter[T]]] = {}
        self._arrivals: collections.deque[Waiter[T]] = collections.deque()  # for deadlines
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def full(self) -> bool:
        return self._count >= self.in_all

    def has_waiting(self, address: str) -> bool:
        return address in self._by_address

    def add(self, address: str, item: T, deadline: float) -> Waiter[T] | None:
        """Put `item` at the end of its address's line; None when there is no room."""
        line = self._by_address.get(address)
        if self.full or (line is not None and len(line) >= self.per_address):
            return None
        waiter = Waiter(address, item, deadline)
        if line is None:
            line = self._by_address[address] = collections.deque()
        line.append(waiter)
        self._arrivals.append(waiter)
        self._count += 1
        return waiter

    def next_of(self, address: str) -> T | None:
        """Take the first that waits from `address` out of the line."""
        line = self._by_address.get(address)
        if line is None:
            return None
        waiter = line.popleft()
        self._left(waiter, line)
        return waiter.item

    def addresses(self) -> Iterator[str]:
        """The addresses with someone waiting, longest-served last (for taking turns)."""
        return iter(list(self._by_address))

    def to_the_back(self, address: str) -> None:
        """`address` just had its turn: other addresses come first next time."""
        line = self._by_address.pop(address, None)
        if line is not None:
            self._by_address[address] = line

    def remove(self, waiter: Waiter[T]) -> None:
        """`waiter` went away while waiting (its connection was lost)."""
        if not waiter.waiting:
            return
        line = self._by_address[waiter.address]
        line.remove(waiter)
        self._left(waiter, line)

    def overdue(self, now: float) -> list[T]:
        """Take every waiter whose deadline has passed out of the line (all deadlines are
        the same length, so the oldest arrivals are the first due)."""
        due: list[T] = []
        arrivals = self._arrivals
        while arrivals and arrivals[0].deadline <= now:
            waiter = arrivals[0]
            line = self._by_address[waiter.address]
            line.remove(waiter)
            self._left(waiter, line)
            due.append(waiter.item)
        return due

    def _left(self, waiter: Waiter[T], line: collections.deque[Waiter[T]]) -> None:
        waiter.waiting = False
        self._count -= 1
        if not line:
            del self._by_address[waiter.address]
        # Those that left from the middle stay in `_arrivals` until they reach its head
        # (at most one deadline's worth of arrivals).
        arrivals = self._arrivals
        while arrivals and not arrivals[0].waiting:
            arrivals.popleft()
