"""Video of any kind on a real Xvfb: the host pipeline against issue 25's goal.

    python3 benchmarks/video.py [--seconds 5] [--clips photo,pattern,cartoon,screencast]

Goal (issue 25): any 1280x720 video at 30 frames/s, photo-like or not, at least 29
updates/s in at most 700 KB/s. Each generated clip (benchmarks/clips.py: photo-like, a test
pattern of flat bars with sharp edges, a flat cartoon panning in layers, a screen recording
of text scrolling by fractions of a pixel) plays centred on a 1920x1080 Xvfb at 30
frames/s, its frames uploaded once to X pixmaps and copied to a window (the player costs
almost nothing). The pipeline runs as host.py runs it: driven by X DAMAGE, paced to at
most 60 updates/s, for a viewer that announced copies, video and palette tiles, with no
network and no flow-control limit. Prints per clip: updates/s, KB/s of encoded updates
(the payload inside the channel; each message adds 40 bytes on the wire), the share of
updates carrying video, the PSNR of what the viewer shows of the clip (each decoded
picture against the clip's frame it matches best), the host process's CPU, and whether
the goal is met.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.host import run_pipeline  # noqa: E402
from tests.conftest import start_xvfb, stop_process  # noqa: E402

SCREEN_WIDTH, SCREEN_HEIGHT = 1920, 1080
FRAMES_PER_SECOND = 30
GOAL_UPDATES_PER_SECOND = 29.0
GOAL_KILOBYTES_PER_SECOND = 700.0
PSNR_SAMPLE_STEP = 8  # pixels: which clip frame a picture shows is found on a sample


def clip_origin() -> tuple[int, int]:
    from benchmarks.clips import CLIP_HEIGHT, CLIP_WIDTH

    return (SCREEN_WIDTH - CLIP_WIDTH) // 2, (SCREEN_HEIGHT - CLIP_HEIGHT) // 2


def play(name: str, display_name: str) -> None:
    """The player, run as its own process: the clip in a loop at 30 frames/s."""
    from contextlib import ExitStack

    from benchmarks.clips import CLIP_HEIGHT, CLIP_WIDTH, CLIPS
    from benchmarks.peer.scene import Scene, ticks

    left, top = clip_origin()
    with ExitStack() as stack:
        scene = Scene(display_name, os.devnull, stack)
        window = scene.window(left, top, CLIP_WIDTH, CLIP_HEIGHT, (0, 0, 0))
        gc = scene.gc(window, (0, 0, 0))
        pixmaps = [
            scene.upload(window, CLIP_WIDTH, CLIP_HEIGHT, frame.tobytes())
            for frame in CLIPS[name]()
        ]
        print("ready", flush=True)
        for index in ticks(FRAMES_PER_SECOND):
            window.copy_area(gc, pixmaps[index % len(pixmaps)], 0, 0, CLIP_WIDTH, CLIP_HEIGHT,
                             0, 0)  # fmt: skip
            scene.display.flush()


def shown_psnr(updates: list, name: str) -> dict[str, float]:
    """PSNR of the decoded video pictures against the clip (after the timed run)."""
    import numpy as np

    from benchmarks.clips import CLIP_HEIGHT, CLIP_WIDTH, CLIPS
    from viewer.video_decode import VideoDecoders

    left, top = clip_origin()
    clip = np.stack([frame[..., 2::-1] for frame in CLIPS[name]()]).astype(np.int16)
    decoders = VideoDecoders()
    scores = []
    for update in updates:
        for packet in update.video:
            picture = decoders.decode(packet)
            if picture is None:
                continue
            x0, y0 = max(packet.x, left), max(packet.y, top)
            x1 = min(packet.x + packet.width, left + CLIP_WIDTH)
            y1 = min(packet.y + packet.height, top + CLIP_HEIGHT)
            if x1 <= x0 or y1 <= y0:
                continue
            rows, columns = slice(y0 - packet.y, y1 - packet.y), slice(x0 - packet.x, x1 - packet.x)
            shown = np.asarray(picture)[rows, columns]
            frames = clip[:, y0 - top : y1 - top, x0 - left : x1 - left]
            step = PSNR_SAMPLE_STEP
            sample = np.abs(frames[:, ::step, ::step] - shown[::step, ::step]).mean(axis=(1, 2, 3))
            best = frames[int(sample.argmin())]
            error = np.mean((best - shown.astype(np.int16)).astype(np.float64) ** 2)
            scores.append(99.0 if error == 0 else 10 * np.log10(255.0**2 / error))
    if not scores:
        return {}
    return {"psnr_mean_db": float(np.mean(scores)), "psnr_min_db": float(np.min(scores))}


def measure(name: str, env: dict[str, str], seconds: float) -> dict[str, float]:
    player = subprocess.Popen(
        [sys.executable, __file__, "--play", name, "--display", env["DISPLAY"]],
        env=env, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert player.stdout is not None
    try:
        if player.stdout.readline().strip() != "ready":
            raise SystemExit(f"the {name} player did not start")
        kept: list = []
        result = run_pipeline(seconds, kept)
        result["video_share"] = len(kept) / max(1.0, result["frames_per_second"] * seconds)
    finally:
        player.kill()
        player.wait()
    result.update(shown_psnr(kept, name))
    return result


def main() -> None:
    from benchmarks.clips import CLIPS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clips", default=",".join(CLIPS),
                        help="comma-separated, from: " + ", ".join(CLIPS))  # fmt: skip
    parser.add_argument("--play", help=argparse.SUPPRESS)
    parser.add_argument("--display", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.play:
        play(args.play, args.display)
        return
    chosen = [name.strip() for name in args.clips.split(",") if name.strip()]
    for name in chosen:
        if name not in CLIPS:
            parser.error(f"unknown clip {name!r}; choose from {', '.join(CLIPS)}")
    process, display = start_xvfb(SCREEN_WIDTH, SCREEN_HEIGHT)
    env = display.env()
    os.environ["DISPLAY"] = display.name
    try:
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
        print(f"{started}, Xvfb {SCREEN_WIDTH}x{SCREEN_HEIGHT}, 1280x720 clips at "
              f"{FRAMES_PER_SECOND} frames/s, {args.seconds:g} s each, "
              f"load average {load}")  # fmt: skip
        print(f"{'clip':11} {'updates/s':>9} {'KB/s':>7} {'video':>6} {'PSNR mean':>9} "
              f"{'min':>5} {'ms p50':>6} {'CPU %':>6}  goal >= {GOAL_UPDATES_PER_SECOND:g}/s, "
              f"<= {GOAL_KILOBYTES_PER_SECOND:g} KB/s")  # fmt: skip
        for name in chosen:
            result = measure(name, env, args.seconds)
            rate, kilobytes = result["frames_per_second"], result["bytes_per_second"] / 1000
            met = rate >= GOAL_UPDATES_PER_SECOND and kilobytes <= GOAL_KILOBYTES_PER_SECOND
            mean = f"{result['psnr_mean_db']:.1f}" if "psnr_mean_db" in result else "-"
            low = f"{result['psnr_min_db']:.1f}" if "psnr_min_db" in result else "-"
            print(f"{name:11} {rate:9.1f} {kilobytes:7.1f} {result['video_share']:6.0%} "
                  f"{mean:>9} {low:>5} {result['ms_p50']:6.1f} {result['cpu_percent']:6.1f}  "
                  f"{'met' if met else 'NO'}", flush=True)  # fmt: skip
    finally:
        stop_process(process)


if __name__ == "__main__":
    main()
