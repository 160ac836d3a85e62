"""QR codes: text in, PNG bytes (through pypng, no Pillow) or terminal text out."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["qr_png", "qr_text"]


def _qrcode() -> Any:
    # Imported on first use: a QR is drawn once per code, and qrcode is slow to import.
    import qrcode
    import qrcode.constants

    return qrcode


def _png() -> Any:
    import png

    return png


def _matrix(data: str, border: int) -> list[list[bool]]:
    qrcode = _qrcode()
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def qr_png(data: str, *, box_size: int = 6, border: int = 4) -> bytes:
    """A PNG of the QR code for ``data``: black on white, ``box_size`` pixels a module, with a
    quiet zone of ``border`` modules.

    qrcode's default factory needs Pillow, and its pure-Python PyPNG factory hands pypng a list
    of pixels per row, which cost as much as encoding the code itself. Each module row is packed
    into bytes here once (1 bit per pixel) and repeated ``box_size`` times, and pypng writes the
    packed rows: the same PNG, at a fraction of the CPU.
    """
    if box_size < 1:
        raise ValueError(f"box_size must be at least 1 pixel, got {box_size!r}")
    png = _png()
    matrix = _matrix(data, border=border)
    width = len(matrix) * box_size
    row_bytes = (width + 7) // 8
    pad = row_bytes * 8 - width
    rows: list[bytes] = []
    for modules in matrix:
        # One bit per pixel, 1 for white: PNG's greyscale 1 is the brightest value.
        bits = "".join("0" * box_size if dark else "1" * box_size for dark in modules)
        packed = (int(bits, 2) << pad).to_bytes(row_bytes, "big")
        rows.extend([packed] * box_size)
    buffer = io.BytesIO()
    png.Writer(width, width, greyscale=True, bitdepth=1).write_packed(buffer, rows)
    return buffer.getvalue()


def qr_text(data: str, *, invert: bool = False) -> str:
    """The QR code drawn with Unicode half blocks, two modules per character row.

    Dark modules are drawn as spaces on a light terminal background by default; ``invert``
    swaps that for terminals with light text on dark.
    """
    matrix = _matrix(data, border=2)
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    glyphs = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    if invert:
        glyphs = {(a, b): glyphs[(not a, not b)] for (a, b) in glyphs}
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2]):
        lines.append("".join(glyphs[(t, b)] for t, b in zip(top, bottom)))
    return "\n".join(lines)
