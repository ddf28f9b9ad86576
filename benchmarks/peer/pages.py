"""Full-screen pictures of application windows for the `fullscreen` scenario (Pillow, no files).

What a maximised window shows in support work: a document (a page of text), a settings
dialog (flat panels, buttons, short labels) and a web page (columns of text around one
photograph). Each is 1920x1080 BGRX, as an X server with depth 24 takes it; all are made
from a fixed seed, so every run shows the same pixels.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .imagery import landscape

PAGE_WIDTH, PAGE_HEIGHT = 1920, 1080
TITLE_BAR_PIXELS = 32
SEED = 25
TEXT = (
    "the customer reports that the printer driver stops after the update and the invoice "
    "module cannot reach the server since monday please check the proxy settings restart "
    "the service and confirm the backup ran before any change is made to the database"
)
WORDS = tuple(TEXT.split(" "))
PHOTO_WIDTH, PHOTO_HEIGHT = 560, 315


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _frame(title: str, background: tuple[int, int, int]) -> tuple[Image.Image, ImageDraw.Draw]:
    image = Image.new("RGB", (PAGE_WIDTH, PAGE_HEIGHT), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, PAGE_WIDTH, TITLE_BAR_PIXELS), fill=(45, 52, 64))
    draw.text((12, 8), title, fill=(235, 235, 235), font=ImageFont.load_default(15))
    return image, draw


def document() -> Image.Image:
    """A word processor: toolbar, a white page of text on a grey desk."""
    rng = random.Random(SEED)
    image, draw = _frame("Bericht.odt - Writer", (200, 200, 204))
    draw.rectangle((0, TITLE_BAR_PIXELS, PAGE_WIDTH, 80), fill=(236, 236, 236))
    for index in range(24):
        left = 12 + index * 36
        draw.rectangle((left, 44, left + 26, 70), outline=(120, 120, 120), fill=(250, 250, 250))
    draw.rectangle((360, 96, 1560, PAGE_HEIGHT), fill=(255, 255, 255))
    font = ImageFont.load_default(16)
    draw.text((420, 130), "Wartungsbericht", fill=(20, 20, 20), font=ImageFont.load_default(28))
    for line in range(40):
        draw.text((420, 190 + line * 22), _sentence(rng, 16), fill=(25, 25, 25), font=font)
    return image


def settings() -> Image.Image:
    """A settings dialog: a side list, panels of labels, fields and buttons."""
    rng = random.Random(SEED + 1)
    image, draw = _frame("Einstellungen", (242, 242, 245))
    font = ImageFont.load_default(15)
    draw.rectangle((0, TITLE_BAR_PIXELS, 300, PAGE_HEIGHT), fill=(228, 230, 236))
    for row in range(22):
        top = 50 + row * 40
        if row == 3:
            draw.rectangle((8, top - 6, 292, top + 26), fill=(52, 120, 210))
        draw.text((24, top), _sentence(rng, 2).title(), fill=(30, 30, 30), font=font)
    for panel in range(3):
        top = 60 + panel * 330
        draw.rounded_rectangle((340, top, 1880, top + 300), 8, fill=(255, 255, 255),
                               outline=(210, 210, 215))  # fmt: skip
        draw.text((360, top + 16), _sentence(rng, 3).title(), fill=(0, 0, 0),
                  font=ImageFont.load_default(20))  # fmt: skip
        for field in range(5):
            y = top + 60 + field * 46
            draw.text((360, y + 6), _sentence(rng, 3), fill=(60, 60, 60), font=font)
            draw.rectangle((900, y, 1500, y + 32), fill=(250, 250, 250), outline=(180, 180, 185))
            draw.text((910, y + 7), _sentence(rng, 2), fill=(20, 20, 20), font=font)
            draw.rounded_rectangle((1560, y, 1700, y + 32), 6, fill=(52, 120, 210))
            draw.text((1585, y + 7), "Speichern", fill=(255, 255, 255), font=font)
    return image


def web_page() -> Image.Image:
    """A web page: a coloured header, three columns of text, one photograph."""
    rng = random.Random(SEED + 2)
    image, draw = _frame("Nachrichten - Browser", (255, 255, 255))
    draw.rectangle((0, TITLE_BAR_PIXELS, PAGE_WIDTH, 76), fill=(232, 234, 237))
    draw.rounded_rectangle((200, 42, 1500, 68), 12, fill=(255, 255, 255))
    draw.rectangle((0, 76, PAGE_WIDTH, 160), fill=(170, 30, 40))
    draw.text((240, 100), "Tagesnachrichten", fill=(255, 255, 255),
              font=ImageFont.load_default(36))  # fmt: skip
    photo = landscape(1)[300 : 300 + PHOTO_HEIGHT, :PHOTO_WIDTH].astype(np.uint8)
    image.paste(Image.fromarray(photo, "RGB"), (240, 190))
    font = ImageFont.load_default(16)
    for line in range(14):
        draw.text((240, 520 + line * 24), _sentence(rng, 9), fill=(30, 30, 30), font=font)
    for column in (840, 1360):
        draw.text((column, 190), _sentence(rng, 4).title(), fill=(0, 0, 0),
                  font=ImageFont.load_default(24))  # fmt: skip
        for line in range(34):
            draw.text((column, 232 + line * 24), _sentence(rng, 7), fill=(40, 40, 40), font=font)
    return image


def pages() -> list[bytes]:
    """The three windows, BGRX bytes each."""
    result = []
    for image in (document(), settings(), web_page()):
        rgb = np.asarray(image, dtype=np.uint8)
        bgrx = np.zeros((PAGE_HEIGHT, PAGE_WIDTH, 4), dtype=np.uint8)
        bgrx[..., 2::-1] = rgb
        result.append(bgrx.tobytes())
    return result
