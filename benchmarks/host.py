"""Host pipeline speed on a real Xvfb (1920x1080): capture + diff + encode per update.

    python3 benchmarks/host.py [--seconds 5] [--codecs] [--scenarios video,video-peer]

Scenarios: a still screen; typing into a terminal (xterm, 10 characters/s via xdotool);
a log scrolling in xterm at 50 lines/s; a full-screen animation (a Tk canvas changing
colour every 15 ms: flat colour, so fill tiles); "blocks", the peer benchmark's animation
(16 blocks bouncing over a full-screen backdrop at 30 frames/s: changes in separate
places); "strewn", 200 characters written at random places of a 200x60 terminal 30 times
a second (as cmatrix does: too many places to grab each on its own); a photo-like 1280x720 "video"
(gradients changing 30 times a second on a fixed schedule: H.264) and "video-peer", the
peer benchmark's clip (benchmarks/peer/imagery.py: a 1280x720 landscape of 1/f noise
under a smooth sky, panning, 30 frames/s, centred on the screen), which is harder to
compress and to recognise as video than the gradients. The pipeline runs
as the agent runs it: driven by X DAMAGE, paced to at most 60 updates/s, to a viewer that
announced copies, video and palette tiles (no network, no flow-control limit). Prints ms
of capture+diff+encode per update (p50, p95), updates/s, KB/s of encoded payload, screen
grabs/s and the host process's CPU share of one core.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import start_xvfb, stop_process  # noqa: E402

FRAME_INTERVAL_SECONDS = 1 / 60
LOG_LINES_PER_SECOND = 50
VIDEO_PICTURES_PER_SECOND = 30
STREWN_PER_FRAME = 200
STREWN_FRAMES_PER_SECOND = 30


def run_pipeline(seconds: float, kept: list | None = None) -> dict[str, float]:
    """Run the pipeline for `seconds`; updates that carry video are appended to `kept`."""
    from host_agent.capture import MssSource
    from host_agent.pipeline import FramePipeline
    from protocol import messages

    sources: list[MssSource] = []

    def make_source() -> MssSource:
        sources.append(MssSource(1))
        return sources[-1]

    pipeline = FramePipeline(make_source)
    pipeline.open()
    pipeline.accept_capabilities(messages.RICH_CAPABILITIES)
    pipeline.produce(80)  # the first full frame is not part of the scenario
    times, sizes, changed = [], 0, 0
    grabs_before = sources[0].grabs
    cpu_before = time.process_time()
    end = time.monotonic() + seconds
    pointer = pipeline.pointer()
    while (left := end - time.monotonic()) > 0:
        # As the agent waits: until an update or a pointer move is to be sent.
        change = pipeline.next_change(80, pointer, timeout_seconds=left)
        update, pointer = change.update, change.pointer
        if update is not None:
            # Work only: the capture time is taken once the damage has arrived.
            work = time.time() - update.capture_time
            changed += 1
            message = update.message(changed)
            sizes += len(messages.encode(message))
            if kept is not None and update.video:
                kept.append(message)
            times.append(work * 1000)
            delay = FRAME_INTERVAL_SECONDS - work
            if delay > 0:
                time.sleep(delay)  # pacing to the frame rate, as the agent does
    cpu = time.process_time() - cpu_before
    grabs = sources[0].grabs - grabs_before
    pipeline.close()
    times.sort()
    return {
        "ms_p50": statistics.median(times) if times else 0.0,
        "ms_p95": times[max(0, int(len(times) * 0.95) - 1)] if times else 0.0,
        "frames_per_second": changed / seconds,
        "bytes_per_second": sizes / seconds,
        "grabs_per_second": grabs / seconds,
        "cpu_percent": 100 * cpu / seconds,
    }


def scenario_still(env: dict[str, str], seconds: float) -> dict[str, float]:
    return run_pipeline(seconds)


def scenario_typing(env: dict[str, str], seconds: float) -> dict[str, float]:
    if shutil.which("xterm") is None:
        raise SystemExit("xterm is needed for the typing scenario: apt-get install -y xterm")
    term = subprocess.Popen(["xterm", "-geometry", "200x60+0+0"], env=env)
    time.sleep(1.5)
    subprocess.run(["xdotool", "mousemove", "300", "300"], env=env)  # focus without a WM
    typist = subprocess.Popen(
        ["xdotool", "type", "--delay", "100", "echo the quick brown fox " * 20], env=env
    )
    try:
        return run_pipeline(seconds)
    finally:
        typist.kill()
        term.kill()
        typist.wait()
        term.wait()


def scenario_scroll(env: dict[str, str], seconds: float) -> dict[str, float]:
    script = (
        f'i=0; while true; do i=$((i+1)); echo "$i the log goes on and on, line after line"; '
        f"sleep {1 / LOG_LINES_PER_SECOND}; done"
    )
    return _in_terminal(env, seconds, "120x50+0+0", ["sh", "-c", script])


def _in_terminal(
    env: dict[str, str], seconds: float, geometry: str, command: list[str]
) -> dict[str, float]:
    """The pipeline while `command` runs in an xterm of `geometry` at the top left."""
    term = subprocess.Popen(
        ["xterm", "-geometry", geometry, "-title", "bench-terminal", "-e", *command], env=env
    )
    subprocess.run(
        ["xdotool", "search", "--sync", "--onlyvisible", "--name", "bench-terminal"],
        env=env, capture_output=True, timeout=20,
    )  # fmt: skip
    try:
        return run_pipeline(seconds)
    finally:
        term.kill()
        term.wait()


def scenario_animation(env: dict[str, str], seconds: float) -> dict[str, float]:
    return _with_x_client(env, seconds, "animate")


def scenario_blocks(env: dict[str, str], seconds: float) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.peer.workload", "animation",
               "--display", env["DISPLAY"], "--events", os.devnull]  # fmt: skip
    return _with_client(env, seconds, command)


def scenario_strewn(env: dict[str, str], seconds: float) -> dict[str, float]:
    source = [sys.executable, str(Path(__file__).resolve()), "--strewn-source"]
    return _in_terminal(env, seconds, "200x60+0+0", source)


def strew_characters() -> None:
    """The strewn scenario's source, run in the terminal: STREWN_PER_FRAME characters at
    random places, STREWN_FRAMES_PER_SECOND times a second."""
    import random

    rng = random.Random(1)
    sys.stdout.write("\x1b[2J")
    while True:
        for _ in range(STREWN_PER_FRAME):
            row, column = rng.randint(1, 60), rng.randint(1, 200)
            sys.stdout.write(f"\x1b[{row};{column}H{chr(rng.randint(33, 126))}")
        sys.stdout.flush()
        time.sleep(1 / STREWN_FRAMES_PER_SECOND)


def scenario_video(env: dict[str, str], seconds: float) -> dict[str, float]:
    # Its own source, not x_client.py's "video": that one re-arms a 33 ms timer after each
    # picture, so drawing time adds up and it shows only about 25 pictures/s.
    return _with_client(env, seconds, [sys.executable, __file__, "--video-source"])


def scenario_video_peer(env: dict[str, str], seconds: float) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.peer.workload", "video",
               "--display", env["DISPLAY"], "--events", os.devnull]  # fmt: skip
    kept: list = []
    result = _with_client(env, seconds, command, kept)
    result.update(peer_clip_psnr(kept))
    return result


def peer_clip_psnr(updates: list) -> dict[str, float]:
    """PSNR of the decoded video pictures against the peer clip (after the timed run).

    Which of the clip's frames a capture holds is not known, so each picture is compared
    with the frame it matches best (on every 8th pixel), then in full.
    """
    import numpy as np

    from benchmarks.peer.imagery import VIDEO_HEIGHT, VIDEO_WIDTH, video_frames
    from benchmarks.peer.workload import SCREEN_HEIGHT, SCREEN_WIDTH, VIDEO_LOOP_FRAMES
    from viewer.video_decode import VideoDecoders

    left, top = (SCREEN_WIDTH - VIDEO_WIDTH) // 2, (SCREEN_HEIGHT - VIDEO_HEIGHT) // 2
    clip = np.stack([
        np.frombuffer(frame, dtype=np.uint8).reshape(VIDEO_HEIGHT, VIDEO_WIDTH, 4)[..., 2::-1]
        for frame in video_frames(VIDEO_LOOP_FRAMES)
    ]).astype(np.int16)  # fmt: skip
    decoders = VideoDecoders()
    scores = []
    for update in updates:
        for packet in update.video:
            picture = decoders.decode(packet)
            if picture is None:
                continue
            # The part of the picture that shows the clip.
            x0, y0 = max(packet.x, left), max(packet.y, top)
            x1 = min(packet.x + packet.width, left + VIDEO_WIDTH)
            y1 = min(packet.y + packet.height, top + VIDEO_HEIGHT)
            if x1 <= x0 or y1 <= y0:
                continue
            shown = np.asarray(picture)[
                y0 - packet.y : y1 - packet.y, x0 - packet.x : x1 - packet.x
            ]
            frames = clip[:, y0 - top : y1 - top, x0 - left : x1 - left]
            sample = np.abs(frames[:, ::8, ::8] - shown[::8, ::8]).mean(axis=(1, 2, 3))
            best = frames[int(sample.argmin())]
            error = np.mean((best - shown.astype(np.int16)).astype(np.float64) ** 2)
            scores.append(99.0 if error == 0 else 10 * np.log10(255.0**2 / error))
    if not scores:
        return {}
    return {"psnr_mean_db": float(np.mean(scores)), "psnr_min_db": float(np.min(scores)),
            "pictures": float(len(scores))}  # fmt: skip


def _with_x_client(env: dict[str, str], seconds: float, mode: str) -> dict[str, float]:
    return _with_client(
        env, seconds, [sys.executable, str(REPO / "tests/host_agent/x_client.py"), mode]
    )


def show_video() -> None:
    """The video scenario's source: a photo-like 1280x720 picture changing on a fixed
    30 Hz schedule (each deadline from the start, so drawing time does not add up)."""
    import tkinter as tk

    from tests.host_agent.x_client import gradient_pictures

    root = tk.Tk()
    root.overrideredirect(True)
    root.geometry(f"{root.winfo_screenwidth()}x{root.winfo_screenheight()}+0+0")
    root.configure(bg="white", cursor="none")
    pictures = [tk.PhotoImage(data=ppm, format="PPM") for ppm in gradient_pictures()]
    label = tk.Label(root, image=pictures[0], borderwidth=0)
    label.place(x=0, y=0)
    shown = [0]
    start = time.monotonic()

    def next_picture() -> None:
        shown[0] += 1
        label.configure(image=pictures[shown[0] % len(pictures)])
        delay = start + (shown[0] + 1) / VIDEO_PICTURES_PER_SECOND - time.monotonic()
        root.after(max(1, round(delay * 1000)), next_picture)

    root.update()
    next_picture()
    root.after(200, lambda: print("ready", flush=True))
    root.mainloop()


def _with_client(
    env: dict[str, str], seconds: float, command: list[str], kept: list | None = None
) -> dict[str, float]:
    client = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert client.stdout is not None
    client.stdout.readline()
    try:
        return run_pipeline(seconds, kept)
    finally:
        client.kill()
        client.wait()


def codecs() -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    text = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(text)
    for row in range(16):
        draw.text((4, row * 16), "def encode_tiles(frame): return 42  # xyz", fill="black")
    y, x = np.mgrid[0:256, 0:256]
    rng = np.random.default_rng(1)
    photo_pixels = np.stack([(x + y) // 2, (x * y) % 256, 255 - x], -1) + rng.integers(
        -20, 20, (256, 256, 3)
    )
    photo = Image.fromarray(np.clip(photo_pixels, 0, 255).astype(np.uint8))
    print("codec choice, 256x256 tiles (bytes, ms per encode, best of 20):")
    for name, image in (("text", text), ("photo", photo)):
        for label, fmt, options in (
            ("JPEG q80", "JPEG", {"quality": 80}),
            ("JPEG q50", "JPEG", {"quality": 50}),
            ("WebP lossless m0", "WEBP", {"lossless": True, "method": 0, "quality": 0}),
            ("PNG level 1", "PNG", {"compress_level": 1}),
        ):
            best = float("inf")
            for _ in range(20):
                buffer = io.BytesIO()
                started = time.perf_counter()
                image.save(buffer, fmt, **options)
                best = min(best, time.perf_counter() - started)
            print(f"  {name:5} {label:17} {len(buffer.getvalue()):7d} B  {best * 1000:5.2f} ms")


SCENARIOS = {
    "still": scenario_still,
    "typing": scenario_typing,
    "scroll": scenario_scroll,
    "animation": scenario_animation,
    "blocks": scenario_blocks,
    "strewn": scenario_strewn,
    "video": scenario_video,
    "video-peer": scenario_video_peer,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--codecs", action="store_true", help="also measure the codec choice")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated, from: " + ", ".join(SCENARIOS))  # fmt: skip
    parser.add_argument("--video-source", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strewn-source", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    for name in chosen:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    if args.video_source:
        show_video()
        return
    if args.strewn_source:
        strew_characters()
        return
    if args.codecs:
        codecs()
    process, display = start_xvfb(1920, 1080)
    os.environ["DISPLAY"] = display.name
    env = display.env()
    try:
        print(f"Xvfb {display.width}x{display.height}, DAMAGE-driven, {args.seconds} s each")
        print(
            f"{'scenario':10} {'ms p50':>7} {'ms p95':>7} {'updates/s':>9} {'KB/s':>9} "
            f"{'grabs/s':>8} {'CPU %':>6}"
        )
        for name in chosen:
            result = SCENARIOS[name](env, args.seconds)
            print(
                f"{name:10} {result['ms_p50']:7.1f} {result['ms_p95']:7.1f} "
                f"{result['frames_per_second']:9.1f} {result['bytes_per_second'] / 1024:9.1f} "
                f"{result['grabs_per_second']:8.1f} {result['cpu_percent']:6.1f}"
            )
            if "psnr_mean_db" in result:
                print(
                    f"{'':10} video PSNR against the clip: mean {result['psnr_mean_db']:.1f} dB,"
                    f" lowest {result['psnr_min_db']:.1f} dB, {result['pictures']:.0f} pictures"
                )
    finally:
        stop_process(process)


if __name__ == "__main__":
    main()
