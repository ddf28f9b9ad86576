"""Peer benchmark: the same screen workloads served by x11vnc, Xvnc and fernwartung.

    python3 benchmarks/peer.py [--link none|dsl|mobile] [--seconds N] [--scenarios a,b]
                               [--systems a,b] [--out DIR]

For every scenario and system: a fresh Xvfb 1920x1080x24 (Xvnc is its own X server), the
workload, the system serving it to a client on 127.0.0.1 that keeps one update in flight,
then delivered updates/s, change -> client latency p50/p95, bytes/s on the wire, bytes per
typed character and the CPU of the serving processes. With `--link dsl` or `mobile` the
customer's side (the host agent's connection to the relay, the VNC server's to its client)
crosses a shaped line (benchmarks/shaper.py) and the scenarios are those of a slow line.
Prints one side-by-side table and writes OUT/peer.json and OUT/peer.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import time
from pathlib import Path

from benchmarks.shaper import LINES

from .fernwartung_side import check_fernwartung_runs
from .phase import run_phase, window_seconds
from .processes import MissingTool, StartFailed, require_tool, wait_for_quiet_machine
from .report import machine, render_text, shaped_goals, table_rows, write_outputs
from .systems import DEFAULT_SYSTEMS, SYSTEM_NAMES, available_systems
from .workload import SCENARIOS

DEFAULT_SECONDS = 7.0  # 21 phases of about 14 s: a whole run in under 5 minutes
QUIET_MACHINE_PERCENT = 25.0  # other work on the machine, in % of one core, before a phase
QUIET_WAIT_SECONDS = 20.0
SCENARIO_ORDER = ("idle", "square", "typing", "scroll", "drag", "animation", "video",
                  "typing-video", "fullscreen", "video-stop")  # fmt: skip
LOOPBACK_SCENARIOS = SCENARIO_ORDER[:7]
SHAPED_SCENARIOS = ("typing-video", "fullscreen", "video-stop", "scroll", "drag")
LINK_NAMES = ("none", *LINES)
RESULTS = Path(__file__).resolve().parents[1] / "results"
WORKLOAD_TOOLS = (("Xvfb", "xvfb"), ("xdotool", "xdotool"), ("xterm", "xterm"))

NOTES = [
    "Each scenario runs once per system on a fresh display; systems run one after another, "
    "never together, so they do not share the 2 cores.",
    "The workload stamps every change (wall clock) just before it sends it to the X server: "
    "the square's colour, each key press (XTEST), each log line (stamped by the program "
    "printing it), each window move, each animation and video frame.",
    "change->client latency: from a change to the first frame update completed at the client "
    "that can contain it. VNC: the first FramebufferUpdate, fully received, with a pixel "
    "rectangle overlapping the change. fernwartung: the first frame update, received by the "
    "viewer, that the host captured at or after the change (its --stats capture_ts and "
    "recv_ts; one machine, one clock). When changes come faster than updates (video, drag, "
    "animation), several changes pair with one update.",
    "capture->viewer: fernwartung's own capture_ts -> recv_ts from the viewer's stats.",
    "KB/s to client: bytes the server sent on the client's TCP connection in the window "
    "(10^3 bytes). VNC: the RFB socket. fernwartung: the viewer's connection to the relay "
    "through a counting TCP proxy (a Python thread in the benchmark, on loopback), so TLS, "
    "WebSocket and AES-GCM framing and any control messages are included. KB/s update "
    "payload: VNC: the FramebufferUpdate messages; fernwartung: the `bytes` of the viewer's "
    "--stats (the frame updates' plaintext).",
    "bytes per typed char: those wire bytes divided by the keys typed in the window. wire "
    "bytes per update: those wire bytes divided by the updates delivered. Each fernwartung "
    "message of up to 109 bytes costs 40 bytes beyond its plaintext on this connection (42 "
    "above): a TLS 1.3 record (5 bytes of header, 1 of content type, 16 of tag), a "
    "WebSocket frame header (2, or 4 from 126 bytes of frame on) and the end-to-end AES-GCM "
    "tag (16); an RFB update has no such framing.",
    "CPU: user+system time from /proc/PID/stat over the window, in % of one core: the VNC "
    "server or fernwartung host agent, Xvfb separately (Xvnc is both in one process). The "
    "relay's and the fernwartung viewer's CPU are shown but not compared (they run on the "
    "operator's server and the technician's PC; here they share the 2 cores, and the viewer "
    "decodes every frame while the VNC counting client decodes nothing). CPU % whole "
    "machine (all cores, 200 = both busy) shows how much else ran: the systems are measured "
    "one at a time, and before each phase the benchmark waits (up to 20 s) until other work "
    "uses under 25 % of a core, but it cannot stop work that starts during a phase.",
    "The VNC client asks for ZRLE, CopyRect, Raw, cursor, LastRect and DesktopSize, 32 bpp "
    "true colour, and sends the next incremental FramebufferUpdateRequest the moment an "
    "update completes. x11vnc runs with -nonap (its default naps up to ~1.5 s on a quiet "
    "screen, which doubles its latency); everything else at defaults. The -tight systems "
    "(only with --systems) ask for Tight first with JPEG quality 8 and zlib level 2, as "
    "TigerVNC's viewer does by default.",
    "Scenarios of a slow line (benchmarks/peer/workload_links.py): typing-video = 10 keys/s "
    "into an 80x24 xterm at the top left while the video below plays at the bottom right "
    "(not overlapping); the typed characters are timed on their own. fullscreen = every 8 s "
    "another maximised window comes to the front (a document, a settings dialog, a web page "
    "with a 560x315 photograph), 3 in the window. video-stop = the video plays 10 s, then "
    "stops on its last frame; the screen stays still for 5 s. These two start when the "
    "measured window opens.",
    "Settling (fullscreen, video-stop): 'equal' is the last update touching the change before "
    "the next change: the client then has the host's picture (ZRLE is lossless; fernwartung's "
    "last update is the lossless follow-up of anything sent lossy, 1 s after it stopped "
    "changing). 'current' is the first update showing the change, lossy or not: for "
    "fernwartung the first captured at or after it and touching it; a VNC update carries no "
    "capture time, so for VNC current is equal.",
    "Shaped line (--link): the link shaper is a TCP proxy on loopback with per direction a "
    "rate, a one-way delay and a queue of 0.2 s at its rate (back-pressure: a full queue "
    "stops reading from the sender), packets of 1448 bytes, its sockets' buffers capped at "
    "4 KiB; no loss. fernwartung: between the host agent and the relay (the agent's uplink "
    "is 'up'); relay and viewer stay on loopback (the technician's line is fast). VNC: "
    "between the server and the counting client (the server's sending side is 'up'), so "
    "the client's update requests cross the line's delay too. Warm-up 5 s instead of 1 "
    "(the first full update takes seconds at 1 Mbit/s); a change not shown within 5 s "
    "(instead of 1) counts as never shown.",
    "fernwartung's updates say where they changed the screen (tiles, copies' destinations, "
    "video pictures), read after the run from the viewer's recording: a change is paired "
    "only with an update that touches it, as for VNC.",
    "Scenarios: idle = a terminal with a page of text, nothing moves; square = a 64x64 "
    "square changes colour every 200-400 ms; typing = 10 keys/s into xterm running cat; "
    "scroll = a log at 50 lines/s in a 160x60 xterm; drag = an 80x30 xterm moved 8 px at "
    "60 Hz (no window manager: the workload moves it as a window manager would); animation = "
    "16 coloured blocks bouncing over a full-screen dark window at 30 fps; video = a 1280x720 "
    "photo-like clip (1/f-noise landscape, panning, with a moving glow) at 30 fps, its 30 "
    "frames uploaded once to X pixmaps and copied to the window, so the workload itself "
    "costs almost no CPU.",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link", choices=LINK_NAMES, default="none",
                        help="the customer's line: none (loopback), " + ", ".join(
                            LINES[name].describe() for name in LINES))  # fmt: skip
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help="measured seconds per scenario and system "
                        f"(default {DEFAULT_SECONDS:g}; fullscreen and video-stop take "
                        "what they need)")  # fmt: skip
    parser.add_argument("--scenarios", default=None,
                        help="comma-separated, from: " + ", ".join(SCENARIO_ORDER) +
                        " (default: " + ", ".join(LOOPBACK_SCENARIOS) + "; with a --link: "
                        + ", ".join(SHAPED_SCENARIOS) + ")")  # fmt: skip
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                        help="comma-separated, from: " + ", ".join(SYSTEM_NAMES))  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="default benchmarks/results/peer (-dsl, -mobile)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.scenarios is None:
        args.scenarios = ",".join(LOOPBACK_SCENARIOS if args.link == "none" else SHAPED_SCENARIOS)
    if args.out is None:
        args.out = RESULTS / ("peer" if args.link == "none" else f"peer-{args.link}")
    args.out = args.out.resolve()  # children run in their own folders
    args.scenarios = choose_names(parser, args.scenarios, SCENARIOS, "scenario")
    args.systems = choose_names(parser, args.systems, SYSTEM_NAMES, "system")
    if not args.seconds > 0:
        parser.error("--seconds must be positive")
    return args


def choose_names(parser: argparse.ArgumentParser, text: str, known, what: str) -> list[str]:
    """The comma-separated names of `text`, each one of `known` (else a usage error)."""
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    for name in chosen:
        if name not in known:
            parser.error(f"unknown {what} {name!r}; choose from {', '.join(known)}")
    return chosen


def _check_prerequisites(systems: list[str]) -> tuple[list, dict[str, str]]:
    """Systems that can run, and why the others cannot; exits if the run makes no sense."""
    try:
        for command, package in WORKLOAD_TOOLS:
            require_tool(command, package)
    except MissingTool as error:
        sys.exit(f"peer benchmark: {error}")
    ready, problems = available_systems(systems)
    unavailable = dict(problem.split(": ", 1) for problem in problems)
    if "x11vnc" in unavailable:
        sys.exit(
            f"peer benchmark: x11vnc, the reference peer, is missing ({unavailable['x11vnc']}); "
            "install it or leave it out with --systems"
        )
    if any(system.name == "fernwartung" for system in ready):
        try:
            check_fernwartung_runs()
        except StartFailed as error:
            unavailable["fernwartung"] = str(error)
            ready = [system for system in ready if system.name != "fernwartung"]
    for name, why in unavailable.items():
        print(f"peer benchmark: {name} will not run: {why}", file=sys.stderr)
    return ready, unavailable


def _one_line(figures: dict) -> str:
    if "error" in figures:
        return "FAILED " + figures["error"][:200]
    p50 = figures["latency_p50_ms"]
    latency = f"p50 {p50:.1f} ms" if p50 is not None else "no changes"
    return (
        f"{figures['updates_per_second']:.1f} updates/s, {latency}, "
        f"{figures['wire_kilobytes_per_second']:.1f} KB/s"
    )


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse_args(given)
    line = LINES.get(args.link)
    systems, unavailable = _check_prerequisites(args.systems)
    started = datetime.datetime.now(datetime.UTC)
    load_before = [round(value, 2) for value in os.getloadavg()]
    results: dict[str, dict[str, dict]] = {}
    total = len(args.scenarios) * len(systems)
    done = 0
    for scenario in args.scenarios:
        results[scenario] = {}
        for system in systems:
            done += 1
            background = wait_for_quiet_machine(QUIET_MACHINE_PERCENT, QUIET_WAIT_SECONDS)
            if background > QUIET_MACHINE_PERCENT:
                print(f"peer benchmark: the machine stays busy ({background:.0f} % of a core) "
                      "with other work; measuring anyway", file=sys.stderr)  # fmt: skip
            began = time.monotonic()
            workdir = args.out / "work" / f"{scenario}-{system.name}"
            figures = run_phase(system, scenario, args.seconds, workdir, line)
            figures["cpu_background_before_percent"] = background
            results[scenario][system.name] = figures
            print(f"[{done}/{total}] {scenario:9} {system.name:11} {_one_line(figures)} "
                  f"({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)  # fmt: skip
    names = [system.name for system in systems] + [n for n in unavailable if n in args.systems]
    goals = shaped_goals(line.up.delay_seconds) if line is not None else None
    rows = table_rows(results, [n for n in SYSTEM_NAMES if n in names], goals)
    document = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python3 benchmarks/peer.py", shlex.join(given)]).strip(),
        "seconds": args.seconds,
        "window_seconds": {name: window_seconds(name, args.seconds) for name in args.scenarios},
        "link": line.describe() if line is not None else "none (loopback)",
        "machine": machine(),
        "load_average_before": load_before,
        "systems": {system.name: system.description for system in systems},
        "unavailable": unavailable,
        "results": results,
        "notes": NOTES,
    }  # fmt: skip
    print(f"link: {document['link']}; {document['date']}; load average before "
          f"{' / '.join(str(value) for value in load_before)}")  # fmt: skip
    print(render_text(rows))
    descriptions = {system.name: system.description for system in systems}
    json_path, markdown_path = write_outputs(
        args.out, document, rows, NOTES, lambda name: descriptions[name]
    )
    print(f"\nwrote {json_path} and {markdown_path}")
    return 0
