"""One measurement: one system serving one scenario on a fresh display.

Order: fresh X display -> workload draws its scene and says READY -> the system attaches and
its client gets the first full update -> warm-up -> the measured window (CPU sampled at its
edges) -> a tail in which the window's last changes can still arrive -> everything stopped
by PID -> the workload's change log read and summarised.
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
from .systems import System

REPO_ROOT = Path(__file__).resolve().parents[2]
WARMUP_SECONDS = 1.0  # let the first full update and start-up work settle
# keep serving after the window so a change made just before its end can still arrive
TAIL_SECONDS = metrics.MAX_LATENCY_SECONDS
WORKLOAD_READY_TIMEOUT_SECONDS = 60.0


def _start_workload(scenario: str, display_name: str, workdir: Path, stack: ExitStack) -> Path:
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
    return events


def read_changes(workdir: Path) -> list[Change]:
    """Every change the workload (and the scroll scenario's logger) stamped."""
    changes = []
    for path in sorted(workdir.glob("events.jsonl*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                changes.append(
                    Change(record["at"], tuple(record["region"]), record.get("characters", 0))
                )
    return sorted(changes, key=lambda change: change.at)


def run_phase(system: System, scenario: str, seconds: float, workdir: Path) -> dict:
    """Measure `system` on `scenario` for `seconds`; the figures, or an `error` sentence."""
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as stack:
            display = system.start_display(stack)
            _start_workload(scenario, display.name, workdir, stack)
            attached = system.attach(display, stack, workdir)
            time.sleep(WARMUP_SECONDS)  # a measured pause, not a wait for an event
            before = {role: sample_cpu(pid) for role, pid in attached.all_cpu_pids().items()}
            before["machine"] = sample_machine_cpu()
            start = time.time()
            time.sleep(seconds)  # the measured window itself
            end = time.time()
            after = {role: sample_cpu(pid) for role, pid in attached.all_cpu_pids().items()}
            after["machine"] = sample_machine_cpu()
            time.sleep(TAIL_SECONDS)  # measured too: the latest changes' updates arrive
        # the stack is closed: every process is stopped and every record is final
    except (StartFailed, MissingTool, OSError, RuntimeError, subprocess.SubprocessError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    except Exception as error:  # a bug in one phase must not lose the others' results
        (workdir / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        return {"error": f"{type(error).__name__}: {error} (traceback in {workdir}/error.txt)"}
    attached.capture.changes.extend(read_changes(workdir))
    usage = {role: cpu_percent(before[role], after[role]) for role in before}
    return metrics.summarise(attached.capture, metrics.Window(start, end), usage)
