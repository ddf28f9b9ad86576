"""The benchmark's outputs: one side-by-side table (terminal and Markdown) and a JSON file.

Rows are scenario x metric, columns the systems, then fernwartung / x11vnc and the goal from
issues 8 and 11 with a mark for whether fernwartung met it in this run.
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
    Metric("latency_missed", "changes never shown (1 s)", 0, only_when_present=True, ratio=False),
    Metric("capture_to_receive_p50_ms", "capture->viewer p50 ms", 1, only_when_present=True),
    Metric("wire_kilobytes_per_second", "KB/s to client (wire)", 2),
    Metric("update_payload_kilobytes_per_second", "KB/s update payload", 2),
    Metric("wire_bytes_per_update", "wire bytes per update", 0, only_when_present=True),
    Metric("bytes_per_character", "bytes per typed char", 1, only_when_present=True),
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
    """A target for fernwartung: against a number, or against x11vnc in the same run."""

    at_most: bool
    value: float | None = None  # None: compare with the reference system's figure
    source: str = ""

    def text(self) -> str:
        bound = f"{self.value:g}" if self.value is not None else REFERENCE
        return f"{'<=' if self.at_most else '>='} {bound} {self.source}".strip()

    def met(self, subject: float, reference: float | None, ceiling: float | None) -> bool | None:
        """Whether `subject` meets the goal; `ceiling` caps an at-least bound (no system can
        show more distinct frames than the workload made, however it splits them)."""
        bound = self.value if self.value is not None else reference
        if bound is None:
            return None
        if self.at_most:
            return subject <= bound
        if ceiling is not None:
            bound = min(bound, ceiling * CEILING_TOLERANCE)
        return subject >= bound


# Issue 11's targets, then issue 8's "at least x11vnc's frames/s, at most its bytes/s".
SCENARIO_GOALS: dict[tuple[str, str], Goal] = {
    ("square", "latency_p50_ms"): Goal(True, 12, "#11"),
    ("square", "latency_p95_ms"): Goal(True, 20, "#11"),
    ("typing", "bytes_per_character"): Goal(True, 45, "#11"),
    ("typing", "latency_p50_ms"): Goal(True, 12, "#11"),
    ("scroll", "updates_per_second"): Goal(False, 48, "#11"),
    ("scroll", "wire_kilobytes_per_second"): Goal(True, 100, "#11"),
    ("scroll", "cpu_total_percent"): Goal(True, None, "#11"),
    ("video", "updates_per_second"): Goal(False, 29, "#11"),
    ("video", "wire_kilobytes_per_second"): Goal(True, 700, "#11"),
    ("idle", "wire_kilobytes_per_second"): Goal(True, 0.1, "#11"),
    ("idle", "cpu_server_percent"): Goal(True, 1, "#11"),
}
EVERY_SCENARIO_GOALS = {
    "updates_per_second": Goal(False, None, "#8"),
    "wire_kilobytes_per_second": Goal(True, None, "#8"),
}


def goal_for(scenario: str, key: str) -> Goal | None:
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


def table_rows(results: dict[str, dict[str, dict]], systems: list[str]) -> list[list[str]]:
    """The side-by-side table as rows of cells, header first."""
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
            goal = goal_for(scenario, metric.key)
            subject, reference = values.get(SUBJECT), values.get(REFERENCE)
            ceiling = by_system.get(SUBJECT, {}).get("changes_per_second")
            if metric.key != "updates_per_second" or not ceiling:
                ceiling = None
            met = goal.met(subject, reference, ceiling) if goal and subject is not None else None
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
        f"{document['seconds']:g} s per scenario and system; load average before the run "
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
