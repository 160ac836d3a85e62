"""PNG bytes without Pillow: the QR code of a pin, and plain RGB images (the media server's cards)."""

from __future__ import annotations

import functools
import struct
import zlib

from plexpin_widget import _qr

__all__ = ["qr_png", "rgb_png"]


@functools.lru_cache(maxsize=256)
def qr_png(data: str) -> bytes:
    """A PNG of the QR code for ``data``: the widget's own QR drawing, cached per pin link.

    Should qrcode be unusable, a plain 1x1 PNG still keeps the endpoint answering an image.
    """
    try:
        return _qr.qr_png(data)
    except ImportError:  # pragma: no cover - qrcode is a runtime dependency
        return _blank_png()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _blank_png() -> bytes:
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\xff")  # filter byte 0, one white pixel
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def rgb_png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG from ``height`` rows of ``3 * width`` bytes each (no Pillow needed)."""
    if len(rows) != height or any(len(row) != 3 * width for row in rows):
        raise ValueError(f"expected {height} rows of {3 * width} bytes")
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    pixels = zlib.compress(b"".join(b"\x00" + row for row in rows), 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")
