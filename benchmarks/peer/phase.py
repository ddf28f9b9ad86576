"""One measurement: one system serving one scenario on a fresh display.

Order: fresh X display -> workload draws its scene and says READY -> the system attaches and
its client gets the first full update (through the link shaper when a line is given) ->
warm-up -> the measured window opens (CPU sampled at its edges; the workload is told, for
scenarios that start their event then) -> a tail in which the window's last changes can
still arrive -> everything stopped by PID -> the workload's change log read and summarised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from contextlib import ExitStack
from pathlib import Path

from benchmarks.shaper import Line

from . import metrics
from .processes import (
    LineReader,
    MissingTool,
    StartFailed,
    cpu_percent,
    open_log,
    running,
    sample_cpu,
    sample_machine_cpu,
)
from .records import Change
from .scene import GO_SIGNAL
from .systems import System
from .workload_links import WINDOW_SECONDS

REPO_ROOT = Path(__file__).resolve().parents[2]
WARMUP_SECONDS = 1.0  # let the first full update and start-up work settle
# On a slow line the first full update alone takes seconds (a screen of 200-300 kB at 1
# Mbit/s), and a playing video fills the line from the start.
SHAPED_WARMUP_SECONDS = 5.0
WORKLOAD_READY_TIMEOUT_SECONDS = 60.0


def window_seconds(scenario: str, seconds: float) -> float:
    """The measured window: `seconds`, or longer when the scenario's events need it."""
    return max(seconds, WINDOW_SECONDS.get(scenario, 0.0))


def _start_workload(
    scenario: str, display_name: str, workdir: Path, stack: ExitStack
) -> tuple[Path, subprocess.Popen]:
    events = workdir / "events.jsonl"
    log = open_log(stack, workdir / "workload.err.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.peer.workload", scenario,
         "--display", display_name, "--events", str(events)],
        cwd=REPO_ROOT,
        env={**os.environ, "DISPLAY": display_name},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
    )  # fmt: skip
    stack.enter_context(running(process))
    LineReader(process.stdout, f"the {scenario} workload").wait_for(
        lambda line: line == "READY", process, WORKLOAD_READY_TIMEOUT_SECONDS
    )
    return events, process


def read_changes(workdir: Path) -> list[Change]:
    """Every change the workload (and the scroll scenario's logger) stamped."""
    changes = []
    for path in sorted(workdir.glob("events.jsonl*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                changes.append(
                    Change(
                        record["at"],
                        tuple(record["region"]),
                        record.get("characters", 0),
                        record.get("kind", ""),
                    )
                )
    return sorted(changes, key=lambda change: change.at)


def run_phase(
    system: System, scenario: str, seconds: float, workdir: Path, line: Line | None = None
) -> dict:
    """Measure `system` on `scenario` for `seconds` (at least what the scenario needs), on
    `line` (None: loopback); the figures, or an `error` sentence."""
    workdir.mkdir(parents=True, exist_ok=True)
    seconds = window_seconds(scenario, seconds)
    max_latency = metrics.max_latency_seconds(line is not None)
    try:
        with ExitStack() as stack:
            display = system.start_display(stack)
            _, workload = _start_workload(scenario, display.name, workdir, stack)
            attached = system.attach(display, stack, workdir, line)
            # a measured pause, not a wait for an event
            time.sleep(WARMUP_SECONDS if line is None else SHAPED_WARMUP_SECONDS)
            before = {role: sample_cpu(pid) for role, pid in attached.all_cpu_pids().items()}
            before["machine"] = sample_machine_cpu()
            start = time.time()
            workload.send_signal(GO_SIGNAL)
            time.sleep(seconds)  # the measured window itself
            end = time.time()
            after = {role: sample_cpu(pid) for role, pid in attached.all_cpu_pids().items()}
            after["machine"] = sample_machine_cpu()
            time.sleep(max_latency)  # measured too: the latest changes' updates arrive
        # the stack is closed: every process is stopped and every record is final
    except (StartFailed, MissingTool, OSError, RuntimeError, subprocess.SubprocessError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    except Exception as error:  # a bug in one phase must not lose the others' results
        (workdir / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        return {"error": f"{type(error).__name__}: {error} (traceback in {workdir}/error.txt)"}
    attached.capture.changes.extend(read_changes(workdir))
    usage = {role: cpu_percent(before[role], after[role]) for role in before}
    figures = metrics.summarise(attached.capture, metrics.Window(start, end), usage, max_latency)
    figures.update(attached.link_figures())
    return figures
