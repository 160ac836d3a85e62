"""QR codes: text in, PNG bytes (through pypng, no Pillow) or terminal text out."""

from __future__ import annotations

import io
from typing import Any


def _qrcode() -> Any:
    # Imported on first use: a QR is drawn once per code, and qrcode is slow to import.
    import qrcode
    import qrcode.constants
    import qrcode.image.pure

    return qrcode

__all__ = ["qr_png", "qr_text"]


def _matrix(data: str, border: int) -> list[list[bool]]:
    qrcode = _qrcode()
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def qr_png(data: str, *, box_size: int = 6, border: int = 4) -> bytes:
    """A PNG of the QR code for ``data``.

    qrcode's default factory needs Pillow; the pure-Python PyPNG factory is named explicitly.
    """
    qrcode = _qrcode()
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=box_size,
        border=border,
        image_factory=qrcode.image.pure.PyPNGImage,
    )
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
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
