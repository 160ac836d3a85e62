"""Poster cards for ``/library/metadata/{id}/thumb/{ts}``: a coloured PNG with the title on it.

The colour comes from the title (same title, same card); the title is drawn in a small built-in
5x7 pixel font, so no Pillow and no font files are needed.
"""

from __future__ import annotations

import colorsys
import functools
import zlib

from .._png import rgb_png

__all__ = ["poster_png"]

WIDTH, HEIGHT = 150, 225
# 5x7 glyphs, one row per five-bit number (most significant bit on the left).
_GLYPHS: dict[str, tuple[int, ...]] = {
    "A": (14, 17, 17, 31, 17, 17, 17), "B": (30, 17, 17, 30, 17, 17, 30), "C": (14, 17, 16, 16, 16, 17, 14),
    "D": (30, 17, 17, 17, 17, 17, 30), "E": (31, 16, 16, 30, 16, 16, 31), "F": (31, 16, 16, 30, 16, 16, 16),
    "G": (14, 17, 16, 23, 17, 17, 15), "H": (17, 17, 17, 31, 17, 17, 17), "I": (14, 4, 4, 4, 4, 4, 14),
    "J": (7, 2, 2, 2, 2, 18, 12), "K": (17, 18, 20, 24, 20, 18, 17), "L": (16, 16, 16, 16, 16, 16, 31),
    "M": (17, 27, 21, 21, 17, 17, 17), "N": (17, 17, 25, 21, 19, 17, 17), "O": (14, 17, 17, 17, 17, 17, 14),
    "P": (30, 17, 17, 30, 16, 16, 16), "Q": (14, 17, 17, 17, 21, 18, 13), "R": (30, 17, 17, 30, 20, 18, 17),
    "S": (15, 16, 16, 14, 1, 1, 30), "T": (31, 4, 4, 4, 4, 4, 4), "U": (17, 17, 17, 17, 17, 17, 14),
    "V": (17, 17, 17, 17, 17, 10, 4), "W": (17, 17, 17, 21, 21, 21, 10), "X": (17, 17, 10, 4, 10, 17, 17),
    "Y": (17, 17, 10, 4, 4, 4, 4), "Z": (31, 1, 2, 4, 8, 16, 31), "0": (14, 17, 19, 21, 25, 17, 14),
    "1": (4, 12, 4, 4, 4, 4, 14), "2": (14, 17, 1, 2, 4, 8, 31), "3": (31, 2, 4, 2, 1, 17, 14),
    "4": (2, 6, 10, 18, 31, 2, 2), "5": (31, 16, 30, 1, 1, 17, 14), "6": (6, 8, 16, 30, 17, 17, 14),
    "7": (31, 1, 2, 4, 8, 8, 8), "8": (14, 17, 17, 14, 17, 17, 14), "9": (14, 17, 17, 15, 1, 2, 12),
    "&": (12, 18, 20, 8, 21, 18, 13), "'": (4, 4, 8, 0, 0, 0, 0), "-": (0, 0, 0, 31, 0, 0, 0),
    ".": (0, 0, 0, 0, 0, 12, 12), " ": (0, 0, 0, 0, 0, 0, 0),
}


def _chars_per_line(scale: int) -> int:
    return (WIDTH - 12) // (6 * scale)


def _lines(title: str, width: int) -> list[str]:
    words, lines, line = title.upper().split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if len(candidate) <= width or not line:
            line = candidate[:width]
        else:
            lines.append(line)
            line = word[:width]
    if line:
        lines.append(line)
    return lines[:5]


@functools.lru_cache(maxsize=512)
def poster_png(title: str, subtitle: str = "") -> bytes:
    """A ``WIDTH`` x ``HEIGHT`` PNG card for ``title`` (``subtitle``, e.g. a year, underneath)."""
    hue = (zlib.crc32(title.encode("utf-8")) % 360) / 360
    top = [round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.55, 0.85)]
    bottom = [round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.75, 0.35)]
    pixels = [bytearray() for _ in range(HEIGHT)]
    for y in range(HEIGHT):
        mix = y / (HEIGHT - 1)
        colour = bytes(round(a + (b - a) * mix) for a, b in zip(top, bottom))
        pixels[y] = bytearray(colour * WIDTH)
    # Large letters, unless a word would not fit on a line in them.
    scale = 2 if all(len(word) <= _chars_per_line(2) for word in title.split()) else 1
    text = _lines(title, _chars_per_line(scale)) + ([subtitle.upper()] if subtitle else [])
    line_height = 9 * scale
    y0 = HEIGHT - 14 - line_height * len(text)
    for row, line in enumerate(text):
        x0 = (WIDTH - len(line) * 6 * scale) // 2
        for position, char in enumerate(line):
            glyph = _GLYPHS.get(char, _GLYPHS[" "])
            for gy, bits in enumerate(glyph):
                for gx in range(5):
                    if bits & (16 >> gx):
                        for dy in range(scale):
                            y = y0 + row * line_height + gy * scale + dy
                            x = x0 + (position * 6 + gx) * scale
                            pixels[y][3 * x:3 * (x + scale)] = b"\xff\xff\xff" * scale
    return rgb_png(WIDTH, HEIGHT, [bytes(row) for row in pixels])
