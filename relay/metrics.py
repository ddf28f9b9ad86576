"""Counters for `GET /metrics`, rendered in the Prometheus text format."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

PREFIX = "fernwartung_relay"


class Metrics:
    """Monotonic counters; gauges are read from the live state when rendered."""

    def __init__(self) -> None:
        self.bytes_forwarded: Counter[str] = Counter()  # by direction
        self.joins_refused: Counter[str] = Counter()  # by reason (error code)
        self.registers_refused: Counter[str] = Counter()
        self.sessions_ended: Counter[str] = Counter()  # by end reason
        self.registers = 0
        self.joins = 0
        self.failed_attempts = 0
        self.resumes = 0  # sides that took their slot back
        self.resumes_refused: Counter[str] = Counter()  # by reason (not sent to the client)
        self.awaiting_resume = 0  # times a side dropped and its slot was kept
        self.connections_refused_http: Counter[str] = Counter()  # by status
        # Several relays on one database.
        self.redirects: Counter[str] = Counter()  # sent to the relay holding it, by request
        self.takeovers = 0  # sessions taken over from a relay that was gone
        self.origins_refused = 0  # upgrades from a web page of a foreign origin
        # Strangers that waited for a slot at the HTTP request (behind a proxy): waited,
        # expired (waited past the deadline), closed (their address's line was full).
        self.waiting: Counter[str] = Counter()

    def render(self, gauges: Callable[[], dict[str, dict[str, int]]]) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {PREFIX}_{name} {help_text}")
            lines.append(f"# TYPE {PREFIX}_{name} {kind}")

        def labelled(name: str, label: str, values: dict[str, int]) -> None:
            for key, value in sorted(values.items()):
                lines.append(f'{PREFIX}_{name}{{{label}="{key}"}} {value}')

        live = gauges()
        family("sessions", "gauge", "Live sessions by state.")
        labelled("sessions", "state", live["sessions"])
        family("connections", "gauge", "Open WebSocket connections.")
        lines.append(f"{PREFIX}_connections {live['connections']['open']}")
        family("connections_unadmitted", "gauge", "Connections not yet in a session.")
        lines.append(f"{PREFIX}_connections_unadmitted {live['connections']['unadmitted']}")
        family("connections_waiting", "gauge", "Connections waiting unread for a slot.")
        lines.append(f"{PREFIX}_connections_waiting {live['connections']['waiting']}")
        family(
            "connections_waited_total",
            "counter",
            "Connections over a cap: waited for a slot, expired waiting, closed (line full).",
        )
        labelled(
            "connections_waited_total",
            "outcome",
            {"waited": 0, "expired": 0, "closed": 0, **live["waiting"]},
        )
        family("bytes_forwarded_total", "counter", "Ciphertext bytes forwarded by direction.")
        labelled(
            "bytes_forwarded_total",
            "direction",
            {"host_to_viewer": 0, "viewer_to_host": 0, **self.bytes_forwarded},
        )
        family("registers_total", "counter", "Session numbers handed out.")
        lines.append(f"{PREFIX}_registers_total {self.registers}")
        family("registers_refused_total", "counter", "Registrations refused by reason.")
        labelled("registers_refused_total", "reason", dict(self.registers_refused))
        family("joins_total", "counter", "Viewers paired with a host.")
        lines.append(f"{PREFIX}_joins_total {self.joins}")
        family("joins_refused_total", "counter", "Joins refused by reason.")
        labelled("joins_refused_total", "reason", dict(self.joins_refused))
        family("http_refused_total", "counter", "Upgrades refused at the HTTP level by status.")
        labelled("http_refused_total", "status", dict(self.connections_refused_http))
        family("origins_refused_total", "counter", "Upgrades refused for a foreign Origin.")
        lines.append(f"{PREFIX}_origins_refused_total {self.origins_refused}")
        family("failed_attempts_total", "counter", "Wrong codes reported by hosts.")
        lines.append(f"{PREFIX}_failed_attempts_total {self.failed_attempts}")
        family("resumes_total", "counter", "Sides that resumed after a dropped connection.")
        lines.append(f"{PREFIX}_resumes_total {self.resumes}")
        family("resumes_refused_total", "counter", "Resume attempts refused by reason.")
        labelled("resumes_refused_total", "reason", dict(self.resumes_refused))
        family("slots_kept_total", "counter", "Dropped sides whose slot was kept for a resume.")
        lines.append(f"{PREFIX}_slots_kept_total {self.awaiting_resume}")
        family("sessions_ended_total", "counter", "Sessions ended by reason.")
        labelled("sessions_ended_total", "reason", dict(self.sessions_ended))
        family("redirects_total", "counter", "Joins and resumes sent to the relay holding them.")
        labelled("redirects_total", "request", {"join": 0, "resume": 0, **self.redirects})
        family("takeovers_total", "counter", "Sessions taken over from a relay that was gone.")
        lines.append(f"{PREFIX}_takeovers_total {self.takeovers}")
        return "\n".join(lines) + "\n"
