"""A link shaper for the benchmarks: a TCP proxy on 127.0.0.1 that behaves like a slow line.

    python3 benchmarks/shaper.py --target-port 8765 --link dsl    # prints LISTENING <port>

The kernel here has no netem, so a proxy is what remains. Each direction of every
connection it carries is one `LinkQueue`: bytes wait in a queue of `queue_bytes`, leave
it at `rate_bits_per_second` in packets of at most PACKET_BYTES (so a small message behind
a large one waits only for the packets ahead of it, as on a real line), and arrive
`delay_seconds` after they left (propagation).

The queue is back-pressure, not drop-tail: when it is full the proxy stops reading from the
sender, TCP's flow control stops the sender, and the bytes the sender writes pile up in its
own socket buffer and then in its application. A byte stream cannot lose bytes, and losing
packets below TCP (what drop-tail does) is not possible from a proxy above it; what a
sender sees of a bottleneck's full queue is the same: its writes stop making progress and
its acks slow down to the line's rate. What the proxy does not model: loss, and the
retransmissions and congestion-window cuts that follow it.

Its own sockets have SO_RCVBUF and SO_SNDBUF capped at SOCKET_BUFFER_BYTES (the kernel
doubles the number and has a minimum), so the only queue that matters is the one
configured here, plus whatever the sender keeps in its own socket buffer, as it would in
front of a real line.

The sans-I/O part (`LinkQueue`) takes bytes and times in and says what is due when; the
asyncio shell (`Shaper`) owns the sockets; `ShaperThread` runs a shaper on its own event
loop for synchronous callers such as the peer benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
# A TCP segment on an Ethernet path (1500-byte MTU less IP and TCP headers with timestamps).
PACKET_BYTES = 1448
READ_BYTES = 64 * 1024
SOCKET_BUFFER_BYTES = 4096
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
# A line's queue holds this long at its rate: a modest router buffer (bufferbloated DSL
# and mobile equipment holds seconds).
QUEUE_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Direction:
    """One direction of a line: how fast, how far, how much it queues."""

    rate_bits_per_second: float
    delay_seconds: float
    queue_bytes: int

    @classmethod
    def of(cls, rate_bits_per_second: float, delay_seconds: float) -> Direction:
        """A direction whose queue holds QUEUE_SECONDS at its rate."""
        queue = max(PACKET_BYTES, round(rate_bits_per_second / 8 * QUEUE_SECONDS))
        return cls(rate_bits_per_second, delay_seconds, queue)

    def describe(self) -> str:
        return (
            f"{self.rate_bits_per_second / 1e6:g} Mbit/s, {self.delay_seconds * 1000:g} ms, "
            f"queue {self.queue_bytes / 1000:g} kB"
        )


@dataclass(frozen=True, slots=True)
class Line:
    """A customer's line: `up` leaves the customer's PC (the host), `down` reaches it."""

    name: str
    up: Direction
    down: Direction

    def describe(self) -> str:
        return f"{self.name}: up {self.up.describe()}; down {self.down.describe()}"


# Issue 25: "DSL" 1 Mbit/s up, 16 Mbit/s down, 25 ms each way; "mobile" 3 Mbit/s both
# ways, 40 ms each way.
LINES = {
    "dsl": Line("dsl", Direction.of(1e6, 0.025), Direction.of(16e6, 0.025)),
    "mobile": Line("mobile", Direction.of(3e6, 0.040), Direction.of(3e6, 0.040)),
}


class LinkQueue:
    """One direction of a line, sans I/O: bytes in with the time they came, bytes out when
    they are due. Times are seconds on any monotonic clock the caller keeps."""

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self._line_free_at = -float("inf")  # when the last accepted packet has left the queue
        self._leaving: collections.deque[tuple[float, int]] = collections.deque()  # queued
        self._queued_bytes = 0
        self._arriving: collections.deque[tuple[float, bytes]] = collections.deque()  # on the line
        self.bytes_accepted = 0
        self.most_queued_bytes = 0  # the fullest the queue has been

    def room(self, now: float) -> int:
        """How many bytes the queue takes now."""
        self._forget_left(now)
        return max(0, self.direction.queue_bytes - self._queued_bytes)

    def accept(self, data: bytes, now: float) -> None:
        """Queue `data` (at most `room(now)` bytes) that arrived from the sender at `now`."""
        if len(data) > self.room(now):
            raise ValueError(f"{len(data)} bytes offered, the queue has room for {self.room(now)}")
        seconds_per_byte = 8.0 / self.direction.rate_bits_per_second
        for start in range(0, len(data), PACKET_BYTES):
            packet = data[start : start + PACKET_BYTES]
            leaves = max(now, self._line_free_at) + len(packet) * seconds_per_byte
            self._line_free_at = leaves
            self._leaving.append((leaves, len(packet)))
            self._queued_bytes += len(packet)
            self._arriving.append((leaves + self.direction.delay_seconds, packet))
        self.bytes_accepted += len(data)
        self.most_queued_bytes = max(self.most_queued_bytes, self._queued_bytes)

    def room_grows_at(self) -> float | None:
        """When the packet at the head of the queue has left (None: the queue is empty)."""
        return self._leaving[0][0] if self._leaving else None

    def next_arrival(self) -> float | None:
        """When the next packet reaches the far end (None: nothing is under way)."""
        return self._arriving[0][0] if self._arriving else None

    def take_arrived(self, now: float) -> bytes:
        """Every byte that has reached the far end by `now`, in order."""
        packets = []
        while self._arriving and self._arriving[0][0] <= now:
            packets.append(self._arriving.popleft()[1])
        return b"".join(packets)

    def _forget_left(self, now: float) -> None:
        while self._leaving and self._leaving[0][0] <= now:
            self._queued_bytes -= self._leaving.popleft()[1]


def _small_buffers(sock: socket.socket, buffer_bytes: int) -> None:
    """Cap a socket's kernel buffers (before connect or listen, so TCP's window follows)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)


class Shaper:
    """A TCP proxy on loopback to `target_port`; what goes toward the target crosses
    `to_target`, what comes back crosses `from_target`. The asyncio shell."""

    def __init__(
        self,
        target_port: int,
        to_target: Direction,
        from_target: Direction,
        buffer_bytes: int = SOCKET_BUFFER_BYTES,
        on_arrival: Callable[[bool, int], None] | None = None,
    ) -> None:
        """`on_arrival(toward_target, size)` is called when bytes reach the far end."""
        self.target_port = target_port
        self.to_target, self.from_target = to_target, from_target
        self.buffer_bytes = buffer_bytes
        self._on_arrival = on_arrival or (lambda toward_target, size: None)
        self.port = 0
        self.queues: list[tuple[LinkQueue, LinkQueue]] = []  # per connection: to, from target
        self._listener: socket.socket | None = None
        self._serving: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _small_buffers(listener, self.buffer_bytes)  # accepted sockets inherit them
        listener.bind((LOOPBACK, 0))
        listener.listen(16)
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._serving = asyncio.create_task(self._accept_forever())

    async def close(self) -> None:
        tasks = [task for task in (self._serving, *self._connections) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()

    async def _accept_forever(self) -> None:
        assert self._listener is not None
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(self._listener)
            task = asyncio.create_task(self._carry(client))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _carry(self, client: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        target = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            _small_buffers(target, self.buffer_bytes)
            target.setblocking(False)
            client.setblocking(False)
            await loop.sock_connect(target, (LOOPBACK, self.target_port))
            for sock in (client, target):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            toward, back = LinkQueue(self.to_target), LinkQueue(self.from_target)
            self.queues.append((toward, back))
            arrived = self._on_arrival
            async with asyncio.TaskGroup() as group:
                group.create_task(_one_way(client, target, toward, lambda n: arrived(True, n)))
                group.create_task(_one_way(target, client, back, lambda n: arrived(False, n)))
        except* (OSError, ConnectionError):
            pass  # a side went away: the other is closed below, as a cut line would
        finally:
            client.close()
            target.close()


async def _one_way(
    source: socket.socket, sink: socket.socket, queue: LinkQueue, arrived: Callable[[int], None]
) -> None:
    """Carry one direction: read while the queue has room, deliver what has arrived."""
    loop = asyncio.get_running_loop()
    more = asyncio.Event()
    ended = False

    async def read() -> None:
        nonlocal ended
        while True:
            room = queue.room(loop.time())
            if room == 0:
                grows = queue.room_grows_at()
                assert grows is not None  # a full queue has a head
                await asyncio.sleep(max(0.0, grows - loop.time()))
                continue
            data = await loop.sock_recv(source, min(room, READ_BYTES))
            if not data:
                ended = True
                more.set()
                return
            queue.accept(data, loop.time())
            more.set()

    async def deliver() -> None:
        while True:
            due = queue.next_arrival()
            if due is None:
                if ended:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                more.clear()
                await more.wait()
                continue
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            data = queue.take_arrived(loop.time())
            if data:
                arrived(len(data))
                await loop.sock_sendall(sink, data)

    async with asyncio.TaskGroup() as group:
        group.create_task(read())
        group.create_task(deliver())


class ShaperThread:
    """A `Shaper` on an event loop of its own thread, for synchronous code.

    with ShaperThread(relay_port, up, down) as shaper:
        connect to 127.0.0.1:shaper.port
    """

    def __init__(
        self,
        target_port: int,
        to_target: Direction,
        from_target: Direction,
        on_arrival: Callable[[bool, int], None] | None = None,
    ) -> None:
        self._shaper = Shaper(target_port, to_target, from_target, on_arrival=on_arrival)
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="shaper", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_SECONDS) or self._error is not None:
            raise RuntimeError(f"the link shaper did not start: {self._error!r}")
        self.port = self._shaper.port

    @property
    def queues(self) -> list[tuple[LinkQueue, LinkQueue]]:
        return self._shaper.queues

    def _run(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                await self._shaper.start()
            except OSError as error:
                self._error = error
                raise
            finally:
                self._started.set()
            try:
                await self._stop.wait()
            finally:
                await self._shaper.close()

        with contextlib.suppress(OSError):
            self._loop.run_until_complete(main())
        self._loop.close()

    def close(self) -> None:
        if self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended already
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT_SECONDS)

    def __enter__(self) -> ShaperThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def shaped(target_port: int, to_target: Direction, from_target: Direction) -> Iterator[int]:
    """The port of a shaper to `target_port` for the duration of the block."""
    with ShaperThread(target_port, to_target, from_target) as shaper:
        yield shaper.port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--link", choices=sorted(LINES), default="dsl")
    parser.add_argument(
        "--host-is-target", action="store_true",
        help="the target is the customer's side (a VNC server): its uplink is what comes back",
    )  # fmt: skip
    args = parser.parse_args(argv)
    line = LINES[args.link]
    toward, back = (line.down, line.up) if args.host_is_target else (line.up, line.down)
    with ShaperThread(args.target_port, toward, back) as shaper:
        print(f"LISTENING {shaper.port} ({line.describe()})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
