"""The peer benchmark's square and typing scenarios with the browser viewer beside the Tk
viewer (issue 22): change on the host's X screen -> pixels on the viewer's canvas.

    python3 benchmarks/browser_peer.py [--seconds N] [--rounds R] [--scenarios square,typing]

Both viewers see the same path: the workload on a fresh Xvfb 1920x1080 (benchmarks/peer's
workloads, unchanged), the host agent, the relay (TLS) on 127.0.0.1. The Tk viewer runs
on an Xvfb of its own (`python -m benchmarks.tk_painted`: the viewer as `fernwartung viewer
--ui tk` runs it, with the time each update was drawn on its canvas noted); the browser
viewer is the relay's page in headless Chromium (Playwright, Debian's chromium), signed in
with token and TOTP, its canvas time taken right after `putImageData`. Latency pairs each
change with the first update captured at or after it (benchmarks/peer/metrics.py), timed
at the canvas. Systems alternate round by round; the figure compared is the median of the
rounds' p50s. Prints the table and writes OUT/browser_peer.json.

Needs what benchmarks/peer.py needs (xvfb, xdotool, xterm) and chromium + playwright.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.peer.fernwartung_side import (  # noqa: E402
    CONSENT_ANSWER,
    CONSENT_TIMEOUT_SECONDS,
    FIRST_UPDATE_TIMEOUT_SECONDS,
    _environment,
    _fernwartung,
    _start_host,
    _start_relay,
)
from benchmarks.peer.phase import run_phase  # noqa: E402
from benchmarks.peer.processes import (  # noqa: E402
    StartFailed,
    open_log,
    require_tool,
    running,
    stop,
    wait_for_quiet_machine,
)
from benchmarks.peer.records import Capture, Delivery  # noqa: E402
from benchmarks.peer.systems import Attached, Display, start_xvfb  # noqa: E402

TECHNICIAN = "bench"
DEFAULT_SECONDS = 7.0
DEFAULT_ROUNDS = 3
GOAL_MS = 3.0
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "browser_peer"
CHROMIUM_FLAGS = (
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)  # fmt: skip
FILE_POLL_SECONDS = 0.05


def _technician_with_totp(data_dir: Path, workdir: Path) -> tuple[str, str]:
    done = subprocess.run(
        _fernwartung("technician", "add", TECHNICIAN, "--totp", "--data-dir", str(data_dir)),
        cwd=workdir, env=_environment(workdir), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    secrets = [line.split(": ", 1)[1] for line in lines if line.startswith("secret: ")]
    if done.returncode != 0 or not secrets:
        raise StartFailed(f"`technician add --totp` failed: {done.stderr.strip()[-300:]}")
    return lines[-1].strip(), secrets[0]


def _spki_pin(data_dir: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate((data_dir / "relay-cert.pem").read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _asks_consent(line: str) -> bool:
    return line.rstrip().endswith("[n/v/c]")


def _fresh_data_dir(data_dir: Path) -> Path:
    """A new ledger each run (the same technician name every time)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    return data_dir


class TkViewer:
    name = "tk"
    description = "host agent -> relay (TLS) -> Tk viewer (time drawn on its canvas)"

    def start_display(self, stack: ExitStack) -> Display:
        return start_xvfb(stack)

    def attach(self, display: Display, stack: ExitStack, workdir: Path) -> Attached:
        capture = Capture(wire_source="not counted here")
        data_dir = _fresh_data_dir(workdir / "relay-data")
        token, _secret = _technician_with_totp(data_dir, workdir)
        relay, port, fingerprint = _start_relay(data_dir, workdir, stack)
        host, host_lines = _start_host(display, port, fingerprint, workdir, stack)
        code = host_lines.wait_for(lambda line: line.startswith("CODE:"), host).split(":", 1)[1]
        own_screen = start_xvfb(stack)  # the viewer's window must not draw on the measured one
        painted = workdir / "painted.jsonl"
        painted.unlink(missing_ok=True)
        log = open_log(stack, workdir / "viewer.log")
        viewer = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.tk_painted", str(painted),
             "--relay", f"wss://127.0.0.1:{port}", "--fingerprint", fingerprint,
             "--code", code.strip(), "--ui", "tk", "--seconds", "600", "--lang", "en",
             "--record", str(workdir / "recordings")],
            cwd=ROOT, env=_environment(workdir, DISPLAY=own_screen.name, FERNWARTUNG_TOKEN=token),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack.enter_context(running(viewer))

        def finish() -> None:
            stop(host)
            try:
                viewer.wait(15)
            except subprocess.TimeoutExpired:
                stop(viewer)
            for line in painted.read_text().splitlines() if painted.exists() else []:
                stat = json.loads(line)
                capture.deliveries.append(
                    Delivery(stat["painted_ts"], 0, None, float(stat["capture_ts"]))
                )

        stack.callback(finish)
        host_lines.wait_for(_asks_consent, host, CONSENT_TIMEOUT_SECONDS)
        host.stdin.write(CONSENT_ANSWER.encode())
        host.stdin.flush()
        deadline = time.monotonic() + FIRST_UPDATE_TIMEOUT_SECONDS
        while not (painted.exists() and painted.stat().st_size):
            if time.monotonic() > deadline or viewer.poll() is not None:
                raise StartFailed("the Tk viewer drew nothing in time")
            time.sleep(FILE_POLL_SECONDS)  # polling the viewer's file for its first line
        return Attached(capture, {"server": host.pid, "x_server": display.process.pid},
                        {"relay": relay.pid, "viewer": viewer.pid})  # fmt: skip


class BrowserViewer:
    name = "browser"
    description = "host agent -> relay (TLS) -> the relay's page in headless Chromium"

    def start_display(self, stack: ExitStack) -> Display:
        return start_xvfb(stack)

    def attach(self, display: Display, stack: ExitStack, workdir: Path) -> Attached:
        from playwright.sync_api import sync_playwright

        from relay.totp import code_at

        capture = Capture(wire_source="not counted here")
        data_dir = _fresh_data_dir(workdir / "relay-data")
        token, secret = _technician_with_totp(data_dir, workdir)
        relay, port, fingerprint = _start_relay(data_dir, workdir, stack)
        host, host_lines = _start_host(display, port, fingerprint, workdir, stack)
        code = host_lines.wait_for(lambda line: line.startswith("CODE:"), host).split(":", 1)[1]
        playwright = sync_playwright().start()
        stack.callback(playwright.stop)
        profile = workdir / "profile"
        shutil.rmtree(profile, ignore_errors=True)
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=shutil.which("chromium"), headless=True,
            args=[*CHROMIUM_FLAGS, f"--ignore-certificate-errors-spki-list={_spki_pin(data_dir)}"],
            viewport={"width": 1920, "height": 1200},
        )  # fmt: skip
        stack.callback(context.close)
        page = context.new_page()

        def finish() -> None:
            frames = page.evaluate(
                "() => window.pageState().frames.map((f) => [f.paintedAt, f.captureTime, f.bytes])"
            )
            stop(host)
            for painted_at, captured_at, size in frames:
                capture.deliveries.append(Delivery(painted_at, size, None, captured_at))

        stack.callback(finish)
        page.goto(f"https://127.0.0.1:{port}/")
        page.wait_for_selector("#signin-view:not([hidden])")
        page.evaluate("async () => { window.pageState = (await import('/js/app.js')).pageState; }")
        page.fill("#signin-name", TECHNICIAN)
        page.fill("#signin-token", token)
        page.fill("#signin-totp", code_at(secret, time.time()))
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("#code-view:not([hidden])")
        page.fill("#code", code.strip())
        page.click("#code-form button[type=submit]")
        host_lines.wait_for(_asks_consent, host, CONSENT_TIMEOUT_SECONDS)
        host.stdin.write(CONSENT_ANSWER.encode())
        host.stdin.flush()
        page.wait_for_function(
            "() => window.pageState().frames.length > 0",
            timeout=FIRST_UPDATE_TIMEOUT_SECONDS * 1000,
        )
        return Attached(capture, {"server": host.pid, "x_server": display.process.pid},
                        {"relay": relay.pid})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--scenarios", default="square,typing")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    for command, package in (("Xvfb", "xvfb"), ("xdotool", "xdotool"), ("xterm", "xterm"),
                             ("chromium", "chromium")):  # fmt: skip
        require_tool(command, package)
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    systems = [TkViewer(), BrowserViewer()]
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    started = datetime.datetime.now(datetime.UTC)
    results: dict[str, dict[str, list[dict]]] = {
        s: {v.name: [] for v in systems} for s in scenarios
    }
    out = args.out.resolve()
    for round_number in range(args.rounds):
        for scenario in scenarios:
            for system in systems if round_number % 2 == 0 else systems[::-1]:
                wait_for_quiet_machine(25.0, 20.0)
                workdir = out / "work" / f"{scenario}-{system.name}-{round_number}"
                figures = run_phase(system, scenario, args.seconds, workdir)  # type: ignore[arg-type]
                results[scenario][system.name].append(figures)
                shown = figures.get("latency_p50_ms", figures.get("error"))
                print(f"round {round_number + 1} {scenario:7} {system.name:8} "
                      f"change->canvas p50 {shown}", file=sys.stderr, flush=True)  # fmt: skip
    rows = []
    for scenario in scenarios:
        medians = {}
        for name, runs in results[scenario].items():
            p50s = [r["latency_p50_ms"] for r in runs if r.get("latency_p50_ms") is not None]
            p95s = [r["latency_p95_ms"] for r in runs if r.get("latency_p95_ms") is not None]
            medians[name] = (statistics.median(p50s) if p50s else None,
                             statistics.median(p95s) if p95s else None, p50s)  # fmt: skip
        tk, browser = medians["tk"][0], medians["browser"][0]
        difference = None if tk is None or browser is None else browser - tk
        rows.append((scenario, medians, difference))
    print(
        "\n| scenario | viewer | change->canvas p50 ms (median of rounds) | p95 ms | rounds' p50 |"
    )
    print("| --- | --- | --- | --- | --- |")
    for scenario, medians, _ in rows:
        for name, (p50, p95, p50s) in medians.items():
            each = ", ".join(f"{value:.1f}" for value in p50s)
            print(f"| {scenario} | {name} | {p50:.1f} | {p95:.1f} | {each} |" if p50 is not None
                  else f"| {scenario} | {name} | - | - | - |")  # fmt: skip
    for scenario, _, difference in rows:
        verdict = "-" if difference is None else ("yes" if difference <= GOAL_MS else "NO")
        shown = "-" if difference is None else f"{difference:+.1f}"
        print(f"{scenario}: browser - Tk = {shown} ms (goal <= {GOAL_MS:g} ms): {verdict}")
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 benchmarks/browser_peer.py " + " ".join(argv or sys.argv[1:]),
        "results": results,
    }
    (out / "browser_peer.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    print(f"\nwrote {out / 'browser_peer.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
