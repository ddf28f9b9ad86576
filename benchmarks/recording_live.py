"""Recording overhead in real sessions: the CPU of live viewer processes with and without.

    python3 benchmarks/recording_live.py [--seconds 8] [--rounds 4]
        [--scenarios typing,scroll,video] [--ui headless,tk]

benchmarks/recording.py times only the decode + apply part of a viewer, in one process;
this one measures whole viewer processes (TLS, WebSocket, AES-GCM, decoding, acks, the
recording's writes and fsyncs, and for `--ui tk` the drawing) in real sessions, everything
through the public command line on 127.0.0.1:

- one Xvfb 1920x1080x24 is the customer's screen, driven by a scenario of the peer
  benchmark (benchmarks/peer/workload.py: typing = 10 keys/s into xterm, scroll = a log at
  50 lines/s, video = a 1280x720 clip at 30 frames/s); a second Xvfb holds the Tk viewers'
  windows, so they never land on the captured screen;
- one relay (`--self-signed`) and, per round, TWO sessions on that screen: two host agents
  (`--ui terminal --screen real`, consent "view and control") each with its own viewer, one
  with `--record DIR`, the other with `--no-record`. Both see the same changes at the same
  time, so load from other processes (this machine is shared: 2 cores) hits both alike.
  Which session records swaps every round, so a difference between the first and the
  second session cancels over the rounds;
- after a warm-up, both viewers' CPU time (user + system of all their threads, ended ones
  included: the process CPU clock of clock_getcpuclockid, in ns; /proc/PID/stat counts
  the same in 10 ms ticks) is read at the edges of a window of `--seconds`; the frame
  updates each one received in it, and their bytes (plaintext), come from its `--stats`.
  Closing the host agents then ends the sessions (the recording's final checkpoint and
  close are outside the window; Xvfb's share of the Tk drawing is not counted).

Prints, per round: each viewer's CPU seconds, frame updates, MB and CPU ms per frame
update, the difference in CPU per frame update (goal < 5 %) and in CPU, how busy the
whole machine was (% of one core, these sessions included), and a check that the
recording holds every frame update the recording viewer applied (`fernwartung recording
info --json`; the few that arrive as the session ends are recorded but not applied) with
its file size / the frame-update bytes it holds. Then, per UI and scenario, the medians
and every round's difference, sorted, so that the spread shows.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.peer.fernwartung_side import (  # noqa: E402
    CONSENT_ANSWER,
    CONSENT_TIMEOUT_SECONDS,
    FIRST_UPDATE_TIMEOUT_SECONDS,
    VIEWER_EXIT_TIMEOUT_SECONDS,
    VIEWER_SAFETY_SECONDS,
    _add_technician,
    _environment,
    _fernwartung,
    _start_host,
    _start_relay,
)
from benchmarks.peer.main import choose_names  # noqa: E402
from benchmarks.peer.phase import _start_workload  # noqa: E402
from benchmarks.peer.processes import (  # noqa: E402
    LineReader,
    MissingTool,
    StartFailed,
    cpu_percent,
    require_tool,
    running,
    sample_machine_cpu,
    stop,
)
from benchmarks.peer.systems import Display, start_xvfb  # noqa: E402
from benchmarks.peer.workload import SCENARIOS  # noqa: E402
from viewer.client import APPLY_QUEUE_UPDATES  # noqa: E402
from viewer.stats import FrameStat, read_stats  # noqa: E402

DEFAULT_SECONDS = 8.0
ROUNDS = 4  # even: each session records as often as the other
WARMUP_SECONDS = 3.0  # the first full-screen frame update and start-up work settle
DEFAULT_SCENARIOS = "typing,scroll,video"
UIS = ("headless", "tk")
LIBC = ctypes.CDLL(None, use_errno=True)


@dataclass(slots=True)
class Session:
    """One host agent and its viewer; `recordings` is None for the viewer with --no-record."""

    host: subprocess.Popen
    viewer: subprocess.Popen
    stats_path: Path
    recordings: Path | None


@dataclass(frozen=True, slots=True)
class Usage:
    """What one viewer spent and received in the measured window."""

    cpu_seconds: float
    frames: int
    frame_bytes: int

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000 * self.cpu_seconds / self.frames if self.frames else float("nan")

    def describe(self) -> str:
        return (
            f"{self.cpu_seconds:6.3f} s CPU, {self.frames:4d} updates, "
            f"{self.frame_bytes / 1e6:6.2f} MB, {self.cpu_ms_per_frame:6.2f} ms/update"
        )


@dataclass(frozen=True, slots=True)
class Relay:
    """Where the viewers and host agents connect, and the technician's token."""

    port: int
    fingerprint: str
    token: str


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of all threads a process has or had, to the nanosecond.

    The 10 ms ticks of /proc/PID/stat are 10-20 % of what a typing window costs a headless
    viewer, and summing its threads' schedstat would lose threads that end (PyAV's).
    """
    clock = ctypes.c_int()
    if LIBC.clock_getcpuclockid(pid, ctypes.byref(clock)) != 0:
        raise StartFailed(f"no CPU clock for process {pid}: has it ended?")
    return time.clock_gettime(clock.value)


def start_session(relay: Relay, screen: Display, viewer_screen: Display | None, ui: str,
                  record: bool, workdir: Path, stack: ExitStack) -> Session:  # fmt: skip
    """Host agent, code, viewer, consent; returns once the viewer says the session is active."""
    workdir.mkdir(parents=True)
    host, host_lines = _start_host(screen, relay.port, relay.fingerprint, workdir, stack)
    code = host_lines.wait_for(lambda line: line.startswith("CODE:"), host).split(":", 1)[1]
    recordings = workdir / "recordings" if record else None
    stats_path = workdir / "viewer-stats.jsonl"
    display = {"DISPLAY": viewer_screen.name} if viewer_screen is not None else {}
    viewer = subprocess.Popen(
        _fernwartung("viewer", "--relay", f"wss://127.0.0.1:{relay.port}", "--fingerprint",
                     relay.fingerprint, "--code", code.strip(), "--ui", ui,
                     "--seconds", str(VIEWER_SAFETY_SECONDS), "--stats", str(stats_path),
                     *(["--record", str(recordings)] if recordings else ["--no-record"])),
        cwd=workdir, env=_environment(workdir, FERNWARTUNG_TOKEN=relay.token, **display),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    stack.enter_context(running(viewer))
    viewer_lines = LineReader(viewer.stderr, f"the {ui} viewer")
    host_lines.wait_for(lambda line: line.rstrip().endswith("[n/v/c]"), host,
                        CONSENT_TIMEOUT_SECONDS)  # fmt: skip
    assert host.stdin is not None
    host.stdin.write(CONSENT_ANSWER.encode())
    host.stdin.flush()
    viewer_lines.wait_for(lambda line: line.endswith(": active"), viewer,
                          FIRST_UPDATE_TIMEOUT_SECONDS)  # fmt: skip
    return Session(host, viewer, stats_path, recordings)


def end_sessions(sessions: list[Session]) -> None:
    """Close the host agents, as the customer would; each viewer then writes out and exits."""
    for session in sessions:
        stop(session.host)
    for session in sessions:
        try:
            session.viewer.wait(VIEWER_EXIT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            stop(session.viewer)
            raise StartFailed("a viewer did not exit after its session ended") from None


def in_window(stats: list[FrameStat], start: float, end: float, cpu_seconds: float) -> Usage:
    received = [stat for stat in stats if start <= stat.recv_ts <= end]
    return Usage(cpu_seconds, len(received), sum(stat.bytes for stat in received))


def check_recording(session: Session, stats: list[FrameStat]) -> str:
    """The recording against the viewer's stats: updates held, file size / update bytes."""
    assert session.recordings is not None
    files = sorted(session.recordings.glob("*.fwrec"))
    if len(files) != 1:
        raise StartFailed(f"expected one recording in {session.recordings}, found {len(files)}")
    done = subprocess.run(
        _fernwartung("recording", "info", str(files[0]), "--json"), cwd=REPO,
        env=_environment(REPO), capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    info = json.loads(done.stdout)
    # An update is recorded when it arrives, its stat written once applied: those still
    # queued when the session ends are in the recording only.
    unapplied = info["frames"] - len(stats)
    held = "all held" if 0 <= unapplied <= APPLY_QUEUE_UPDATES + 1 else "MISMATCH"
    return (f"recording: {info['frames']} updates, {len(stats)} applied ({held}), "
            f"file/update bytes {info['bytes'] / info['frame_bytes']:.4f}")  # fmt: skip


def run_round(relay: Relay, screen: Display, viewer_screen: Display | None, ui: str,
              recording_first: bool, seconds: float,
              workdir: Path) -> tuple[Usage, Usage, str]:  # fmt: skip
    """(with recording, without recording, notes): Usages of one round of two live sessions."""
    with ExitStack() as stack:
        sessions = [
            start_session(relay, screen, viewer_screen, ui, record, workdir / name, stack)
            for name, record in (("first", recording_first), ("second", not recording_first))
        ]
        time.sleep(WARMUP_SECONDS)  # a measured pause, not a wait for an event
        machine_before = sample_machine_cpu()
        before = [cpu_seconds(session.viewer.pid) for session in sessions]
        start = time.time()
        time.sleep(seconds)  # the measured window itself
        end = time.time()
        after = [cpu_seconds(session.viewer.pid) for session in sessions]
        busy = cpu_percent(machine_before, sample_machine_cpu())
        end_sessions(sessions)
    usages, note = {}, ""
    for session, first, last in zip(sessions, before, after, strict=True):
        stats = read_stats(session.stats_path)
        recorded = session.recordings is not None
        usages[recorded] = in_window(stats, start, end, last - first)
        if recorded:
            note = check_recording(session, stats)
    which = "first" if recording_first else "second"
    note += f"; {which} session recorded; machine busy {busy:.0f} %"
    return usages[True], usages[False], note


def percent(with_recording: float, without: float) -> float:
    return 100 * (with_recording - without) / without if without else float("nan")


def measure(relay: Relay, screen: Display, viewer_screen: Display | None, ui: str,
            scenario: str, seconds: float, rounds: int, workdir: Path) -> None:  # fmt: skip
    per_frame, cpu, results = [], [], []
    for number in range(rounds):
        with_recording, without, note = run_round(
            relay, screen, viewer_screen, ui, number % 2 == 0, seconds,
            workdir / f"{ui}-{scenario}-{number}",
        )  # fmt: skip
        results.append((with_recording, without))
        per_frame.append(percent(with_recording.cpu_ms_per_frame, without.cpu_ms_per_frame))
        cpu.append(percent(with_recording.cpu_seconds, without.cpu_seconds))
        print(f"  {ui:>8} {scenario:>6} round {number + 1}: with {with_recording.describe()} | "
              f"without {without.describe()} | CPU/update {per_frame[-1]:+5.1f} %, "
              f"CPU {cpu[-1]:+5.1f} % | {note}", flush=True)  # fmt: skip
    plain = statistics.median(without.cpu_ms_per_frame for _, without in results)
    recorded = statistics.median(with_recording.cpu_ms_per_frame for with_recording, _ in results)
    rate = [(w.frames / seconds, o.frames / seconds) for w, o in results]
    print(f"{ui:>8} {scenario:>6}: viewer CPU/update {plain:6.2f} ms without, {recorded:6.2f} ms "
          f"with recording: {statistics.median(per_frame):+5.1f} % (goal < 5 %), median of "
          f"{rounds} rounds: {' '.join(f'{d:+.1f}' for d in sorted(per_frame))}; CPU "
          f"{statistics.median(cpu):+5.1f} % ({' '.join(f'{d:+.1f}' for d in sorted(cpu))}); "
          f"updates/s with {statistics.median(w for w, _ in rate):.1f}, without "
          f"{statistics.median(o for _, o in rate):.1f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--scenarios", default=DEFAULT_SCENARIOS)
    parser.add_argument("--ui", default=",".join(UIS))
    args = parser.parse_args()
    scenarios = choose_names(parser, args.scenarios, sorted(SCENARIOS), "scenario")
    uis = choose_names(parser, args.ui, UIS, "UI")
    if not args.seconds > 0 or args.rounds < 1:
        parser.error("--seconds must be positive and --rounds at least 1")
    began = time.monotonic()
    try:
        for command, package in (("Xvfb", "xvfb"), ("xterm", "xterm"), ("xdotool", "xdotool")):
            require_tool(command, package)
        with tempfile.TemporaryDirectory(prefix="recording-live-") as folder, ExitStack() as stack:
            workdir = Path(folder)
            (workdir / "relay-data").mkdir()
            token = _add_technician(workdir / "relay-data", workdir)
            _, port, fingerprint = _start_relay(workdir / "relay-data", workdir, stack)
            relay = Relay(port, fingerprint, token)
            viewer_screen = start_xvfb(stack) if "tk" in uis else None
            for scenario in scenarios:
                with ExitStack() as screen_stack:
                    screen = start_xvfb(screen_stack)
                    (workdir / scenario).mkdir()
                    _start_workload(scenario, screen.name, workdir / scenario, screen_stack)
                    for ui in uis:
                        measure(relay, screen, viewer_screen if ui == "tk" else None, ui,
                                scenario, args.seconds, args.rounds, workdir)  # fmt: skip
    except (MissingTool, StartFailed) as error:
        sys.exit(f"recording_live benchmark: {error}")
    print(f"({time.monotonic() - began:.0f} s in all)")


if __name__ == "__main__":
    main()
