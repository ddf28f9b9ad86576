"""A real X client for the host agent's tests, run as `python x_client.py MODE [ARG]` on Xvfb.

    entry          an Entry at ENTRY_X, ENTRY_Y; prints `click X Y` and `text CONTENT` lines
    image PNG      shows the picture at the top-left corner of the screen
    animate        a full-screen rectangle that changes colour every frame
    video          a 1280x720 photo-like picture that changes every 33 ms (for benchmarks)

Prints `ready` once its window is mapped and drawn.
"""

from __future__ import annotations

import sys
import tkinter as tk

ENTRY_X, ENTRY_Y = 200, 150
ENTRY_WIDTH, ENTRY_HEIGHT = 400, 40


def gradient_pictures() -> list[bytes]:
    """The video source's 30 photo-like 1280x720 pictures, as PPM."""
    import numpy as np

    y, x = np.mgrid[0:720, 0:1280]
    pictures = []
    for shift in range(0, 240, 8):
        pixels = np.stack([(x + shift) % 256, (y + 2 * shift) % 256, (x + y) // 8 % 256], -1)
        pictures.append(b"P6 1280 720 255\n" + pixels.astype(np.uint8).tobytes())
    return pictures


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> None:
    mode = sys.argv[1]
    root = tk.Tk()
    root.overrideredirect(True)
    width, height = root.winfo_screenwidth(), root.winfo_screenheight()
    root.geometry(f"{width}x{height}+0+0")
    root.configure(bg="white", cursor="none")
    if mode == "entry":
        content = tk.StringVar()
        entry = tk.Entry(root, textvariable=content, font=("Courier", 16))
        entry.place(x=ENTRY_X, y=ENTRY_Y, width=ENTRY_WIDTH, height=ENTRY_HEIGHT)
        content.trace_add("write", lambda *_: say(f"text {content.get()}"))
        root.bind_all("<ButtonPress>", lambda e: say(f"click {e.x_root} {e.y_root} {e.num}"))
        root.update()
        entry.focus_force()  # no window manager on Xvfb gives the focus
    elif mode == "image":
        picture = tk.PhotoImage(file=sys.argv[2])
        tk.Label(root, image=picture, borderwidth=0).place(x=0, y=0)
    elif mode == "animate":
        canvas = tk.Canvas(root, highlightthickness=0)
        canvas.pack(fill="both", expand=True)
        rect = canvas.create_rectangle(0, 0, width, height, width=0)
        step = [0]

        def tick() -> None:
            step[0] += 1
            value = (step[0] * 37) % 256
            canvas.itemconfigure(rect, fill=f"#{value:02x}{255 - value:02x}80")
            root.after(15, tick)

        tick()
    elif mode == "video":
        frames = [tk.PhotoImage(data=ppm, format="PPM") for ppm in gradient_pictures()]
        label = tk.Label(root, image=frames[0], borderwidth=0)
        label.place(x=0, y=0)
        index = [0]

        def next_picture() -> None:
            index[0] = (index[0] + 1) % len(frames)
            label.configure(image=frames[index[0]])
            root.after(33, next_picture)

        next_picture()
    root.update()
    root.after(200, lambda: say("ready"))
    root.mainloop()


if __name__ == "__main__":
    main()
