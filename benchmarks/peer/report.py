"""The benchmark's outputs: one side-by-side table (terminal and Markdown) and a JSON file.

Rows are scenario x metric, columns the systems, then fernwartung / x11vnc and the goal from
issues 8, 11 and 25 with a mark for whether fernwartung met it in this run. On a shaped line
(`--link dsl|mobile`) the goals are issue 25's for a slow line.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .systems import SCREEN_SIZE

REFERENCE = "x11vnc"
SUBJECT = "fernwartung"
BEST_PEER = "best VNC"  # the better of the VNC systems that ran, figure by figure
MET, MISSED = "yes", "NO"
CEILING_TOLERANCE = 0.98  # a change landing just outside the window is not a missed frame


@dataclass(frozen=True, slots=True)
class Metric:
    """A table row: which figure, how it is shown."""

    key: str
    label: str
    decimals: int
    only_when_present: bool = False  # hide the row when no system has the figure
    ratio: bool = True  # whether fernwartung / x11vnc means anything for this figure


METRICS = (
    Metric("updates_per_second", "updates/s", 1),
    Metric("latency_p50_ms", "change->client p50 ms", 1),
    Metric("latency_p95_ms", "change->client p95 ms", 1),
    Metric("latency_missed", "changes never shown", 0, only_when_present=True, ratio=False),
    Metric("typed_latency_p50_ms", "typed char->client p50 ms", 1, only_when_present=True),
    Metric("typed_latency_p95_ms", "typed char->client p95 ms", 1, only_when_present=True),
    Metric("typed_missed", "typed chars never shown", 0, only_when_present=True, ratio=False),
    Metric("stop_current_ms", "stop->client current ms", 0, only_when_present=True),
    Metric("stop_equal_ms", "stop->client equal ms", 0, only_when_present=True),
    Metric("maximise_current_ms", "new window->client first p50 ms", 0, only_when_present=True),
    Metric("maximise_equal_ms", "new window->client equal p50 ms", 0, only_when_present=True),
    Metric("maximise_equal_max_ms", "new window->client equal max ms", 0, only_when_present=True),
    Metric("maximise_unsettled", "new windows not settled", 0, only_when_present=True, ratio=False),
    Metric("stop_unsettled", "stops not settled", 0, only_when_present=True, ratio=False),
    Metric("capture_to_receive_p50_ms", "capture->viewer p50 ms", 1, only_when_present=True),
    Metric("wire_kilobytes_per_second", "KB/s to client (wire)", 2),
    Metric("update_payload_kilobytes_per_second", "KB/s update payload", 2),
    Metric("wire_bytes_per_update", "wire bytes per update", 0, only_when_present=True),
    Metric("bytes_per_character", "bytes per typed char", 1, only_when_present=True),
    Metric(
        "payload_bytes_per_character", "payload bytes per typed char", 1, only_when_present=True
    ),
    Metric("cpu_server_percent", "CPU % server / agent", 1),
    Metric("cpu_x_server_percent", "CPU % Xvfb", 1),
    Metric("cpu_total_percent", "CPU % together", 1),
    Metric(
        "cpu_relay_percent", "CPU % relay (not compared)", 1, only_when_present=True, ratio=False
    ),
    Metric(
        "cpu_viewer_percent", "CPU % viewer (not compared)", 1, only_when_present=True, ratio=False
    ),
    Metric("cpu_machine_percent", "CPU % whole machine", 0, ratio=False),
    Metric("cpu_background_before_percent", "CPU % others, before", 0, ratio=False),
)


@dataclass(frozen=True, slots=True)
class Goal:
    """A target for fernwartung: at most (or at least) a number, and/or `factor` times a
    VNC system's figure in the same run (`reference`: a system's name or BEST_PEER; with no
    number and no reference given, x11vnc's)."""

    at_most: bool
    value: float | None = None
    source: str = ""
    reference: str | None = None
    factor: float = 1.0

    def _reference(self) -> str | None:
        return self.reference or (REFERENCE if self.value is None else None)

    def text(self) -> str:
        sign = "<=" if self.at_most else ">="
        parts = [f"{sign} {self.value:g}"] if self.value is not None else []
        reference = self._reference()
        if reference is not None:
            if self.factor == 1:
                parts.append(f"{sign} {reference}")
            elif self.factor < 1 and (1 / self.factor).is_integer():
                parts.append(f"{sign} {reference}/{1 / self.factor:g}")
            else:
                parts.append(f"{sign} {self.factor:g} {reference}")
        return f"{' and '.join(parts)} {self.source}".strip()

    def reference_figure(self, figures: dict[str, float | None]) -> float | None:
        """The figure fernwartung is held to (before `factor`), None when no peer has one."""
        reference = self._reference()
        if reference is None:
            return None
        if reference != BEST_PEER:
            return figures.get(reference)
        peers = [value for name, value in figures.items() if name != SUBJECT and value is not None]
        if not peers:
            return None
        return min(peers) if self.at_most else max(peers)

    def met(
        self, subject: float, figures: dict[str, float | None], ceiling: float | None
    ) -> bool | None:
        """Whether `subject` meets the goal (None: nothing to compare with); `ceiling` caps
        an at-least bound (no system can show more distinct frames than the workload
        made, however it splits them)."""
        bounds = [self.value] if self.value is not None else []
        reference = self.reference_figure(figures)
        if reference is not None:
            bounds.append(self.factor * reference)
        if not bounds:
            return None
        if self.at_most:
            return all(subject <= bound for bound in bounds)
        if ceiling is not None:
            bounds = [min(bound, ceiling * CEILING_TOLERANCE) for bound in bounds]
        return all(subject >= bound for bound in bounds)


# Issue 11's targets, then issue 8's "at least x11vnc's frames/s, at most its bytes/s", and
# issue 25's on loopback.
SCENARIO_GOALS: dict[tuple[str, str], Goal] = {
    ("square", "latency_p50_ms"): Goal(True, 12, "#11"),
    ("square", "latency_p95_ms"): Goal(True, 20, "#11"),
    ("typing", "bytes_per_character"): Goal(True, 45, "#11"),
    ("typing", "payload_bytes_per_character"): Goal(True, 40, "#25"),
    ("typing", "latency_p50_ms"): Goal(True, 12, "#11"),
    ("scroll", "updates_per_second"): Goal(False, 48, "#11"),
    ("scroll", "wire_kilobytes_per_second"): Goal(True, 100, "#11"),
    ("scroll", "cpu_total_percent"): Goal(True, None, "#25", factor=0.8),
    ("drag", "latency_p50_ms"): Goal(True, None, "#25", reference="Xvnc"),
    ("drag", "cpu_server_percent"): Goal(True, None, "#25"),
    ("animation", "latency_p50_ms"): Goal(True, None, "#25", reference="Xvnc"),
    ("animation", "cpu_server_percent"): Goal(True, None, "#25"),
    ("video", "updates_per_second"): Goal(False, 29, "#11"),
    ("video", "wire_kilobytes_per_second"): Goal(True, 700, "#11"),
    ("idle", "wire_kilobytes_per_second"): Goal(True, 0.1, "#11"),
    ("idle", "cpu_server_percent"): Goal(True, 1, "#11"),
}
EVERY_SCENARIO_GOALS = {
    "updates_per_second": Goal(False, None, "#8"),
    "wire_kilobytes_per_second": Goal(True, None, "#8"),
}
TYPING_ALLOWANCE_MS = 30  # issue 25: a typed character within one-way delay + 30 ms


def shaped_goals(one_way_delay_seconds: float) -> dict[tuple[str, str], Goal]:
    """Issue 25's goals on a slow line ("DSL"; on "mobile" the same with its delay): each
    also at least 3x better than the better VNC server."""
    typed = one_way_delay_seconds * 1000 + TYPING_ALLOWANCE_MS
    return {
        ("typing-video", "typed_latency_p50_ms"): Goal(True, typed, "#25", BEST_PEER, 1 / 3),
        ("video-stop", "stop_current_ms"): Goal(True, 1000, "#25", BEST_PEER, 1 / 3),
        ("fullscreen", "maximise_equal_ms"): Goal(True, 2000, "#25", BEST_PEER, 1 / 3),
    }


def goal_for(
    scenario: str, key: str, goals: dict[tuple[str, str], Goal] | None = None
) -> Goal | None:
    """The goal of a row: from `goals` when given (a shaped line's), else the loopback ones."""
    if goals is not None:
        return goals.get((scenario, key))
    return SCENARIO_GOALS.get((scenario, key)) or EVERY_SCENARIO_GOALS.get(key)


def machine() -> dict:
    """What the numbers were measured on."""
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "screen": f"Xvfb {SCREEN_SIZE}",
        "load_average_1_5_15_min": [round(value, 2) for value in os.getloadavg()],
        "x11vnc": _version(["x11vnc", "-version"]),
        "Xvnc": _version(["Xvnc", "-version"]),
    }


def _version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (done.stdout + done.stderr).splitlines():
        if line.strip():
            return line.strip()
    return None


def _format(value: float | int | None, decimals: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{decimals}f}"


def _ratio(subject: float | None, reference: float | None) -> str:
    if subject is None or reference is None:
        return "-"
    if reference == 0:
        return "-" if subject == 0 else "inf"
    return f"{subject / reference:.2f}"


def table_rows(
    results: dict[str, dict[str, dict]],
    systems: list[str],
    goals: dict[tuple[str, str], Goal] | None = None,
) -> list[list[str]]:
    """The side-by-side table as rows of cells, header first (`goals`: see goal_for)."""
    header = ["scenario", "metric", *systems, f"{SUBJECT}/{REFERENCE}", "goal", "met"]
    rows = [header]
    for scenario, by_system in results.items():
        errors = {name: found["error"] for name, found in by_system.items() if "error" in found}
        for metric in METRICS:
            values = {
                name: (None if name in errors else by_system.get(name, {}).get(metric.key))
                for name in systems
            }
            if all(value is None for value in values.values()):
                continue
            if metric.only_when_present and not any(values.values()):
                continue
            goal = goal_for(scenario, metric.key, goals)
            subject, reference = values.get(SUBJECT), values.get(REFERENCE)
            ceiling = by_system.get(SUBJECT, {}).get("changes_per_second")
            if metric.key != "updates_per_second" or not ceiling:
                ceiling = None
            met = goal.met(subject, values, ceiling) if goal and subject is not None else None
            rows.append([
                scenario, metric.label,
                *(_format(values[name], metric.decimals) for name in systems),
                _ratio(subject, reference) if metric.ratio else "",
                goal.text() if goal else "",
                "" if met is None else (MET if met else MISSED),
            ])  # fmt: skip
        for name, error in errors.items():
            rows.append([scenario, f"{name} failed", error[:160], *[""] * (len(header) - 3)])
    return rows


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows if len(row) > i) for i in range(len(rows[0]))]
    widths[2] = min(widths[2], 12)
    lines = []
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            lines.append("")
        previous = row[0] if row is not rows[0] else None
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def render_markdown(rows: list[list[str]]) -> str:
    header, body = rows[0], rows[1:]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def write_outputs(
    out: Path, document: dict, rows: list[list[str]], notes: list[str],
    describe: Callable[[str], str],
) -> tuple[Path, Path]:  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = out / "peer.json", out / "peer.md"
    json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    info = document["machine"]
    lines = [
        "# Peer benchmark: fernwartung against x11vnc and Xvnc",
        "",
        f"Measured {document['date']} on {info['nproc']} cores ({info['cpu_model']}), "
        f"{info['screen']}, Linux {info['kernel']}, Python {info['python']}; "
        f"{document['seconds']:g} s per scenario and system (at least what a scenario "
        f"needs); line: {document['link']}; load average before the run "
        f"{' / '.join(str(v) for v in document['load_average_before'])} (1/5/15 min).",
        "",
        f"    {document['command']}",
        "",
        *(f"- **{name}**: {describe(name)}" for name in document["systems"]),
        *(f"- **{name}** did not run: {why}" for name, why in document["unavailable"].items()),
        "",
        render_markdown(rows),
        "",
        "## How it is measured",
        "",
        *(f"- {note}" for note in notes),
        "",
    ]
    markdown_path.write_text("\n".join(lines), encoding="utf-8")
    return json_path, markdown_path
