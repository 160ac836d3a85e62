"""QR codes decode back to exactly what was encoded, as PNG and as text, without Pillow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import png
import pytest
import zxingcpp

from plexpin_widget._qr import qr_png, qr_text

PAYLOADS = [
    "https://plex.tv/link/?pin=7RQZ",
    "https://app.plex.tv/auth#?clientID=9klpwueublnfbvlx95w83ah9&code=adladoqienbfquboqoqiobeoi"
    "&context%5Bdevice%5D%5Bproduct%5D=My%20Cool%20Plex%20App&forwardUrl=https%3A%2F%2Fexample.com",
    "http://127.0.0.1:8765/link/?pin=AB12",
    "Café ✓ 日本 <script>&amp;",
]


def _decode(image: np.ndarray) -> list[str]:
    """Every QR text zxing-cpp finds in a greyscale uint8 image."""
    return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def _png_to_array(data: bytes) -> np.ndarray:
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    assert info["planes"] == 1 and not info["alpha"]
    image = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width)
    scale = 255 // (2 ** info["bitdepth"] - 1)
    return (image * scale).astype(np.uint8)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_png_decodes_to_exactly_the_input(payload: str) -> None:
    data = qr_png(payload)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert _decode(_png_to_array(data)) == [payload]


def test_png_box_size_scales_the_image() -> None:
    small = _png_to_array(qr_png(PAYLOADS[0], box_size=2))
    large = _png_to_array(qr_png(PAYLOADS[0], box_size=8))
    assert large.shape[0] == 4 * small.shape[0]
    assert _decode(large) == [PAYLOADS[0]]


def _text_to_array(text: str, *, ink_is_dark: bool) -> np.ndarray:
    """Turn the half-block drawing back into pixels (8 px per module, wide quiet zone)."""
    top_ink = {"█": True, "▀": True, "▄": False, " ": False}
    bottom_ink = {"█": True, "▀": False, "▄": True, " ": False}
    lines = text.split("\n")
    assert len({len(line) for line in lines}) == 1, "ragged QR text"
    modules: list[list[bool]] = []
    for line in lines:
        assert set(line) <= set(top_ink), set(line) - set(top_ink)
        modules.append([top_ink[ch] == ink_is_dark for ch in line])
        modules.append([bottom_ink[ch] == ink_is_dark for ch in line])
    dark = np.array(modules, dtype=bool)
    dark = np.pad(dark, 4, constant_values=False)
    image = np.where(dark, 0, 255).astype(np.uint8)
    return np.kron(image, np.ones((8, 8), dtype=np.uint8))


@pytest.mark.parametrize("payload", PAYLOADS[:3])
def test_text_renders_a_readable_code(payload: str) -> None:
    text = qr_text(payload)
    # Default: light modules are drawn (ink), for dark text on a light background reversed.
    assert _decode(_text_to_array(text, ink_is_dark=False)) == [payload]
    inverted = qr_text(payload, invert=True)
    assert inverted != text
    assert _decode(_text_to_array(inverted, ink_is_dark=True)) == [payload]


_RENDER = """
import sys
sys.path[:0] = {extra!r}
if {block_pillow!r}:
    sys.modules["PIL"] = None
import plexpin_widget
from plexpin_widget._qr import qr_png, qr_text
assert qr_png("https://plex.tv/link/?pin=AB12").startswith(b"\\x89PNG")
assert qr_text("https://plex.tv/link/?pin=AB12")
print(sorted(m for m in sys.modules if (m == "PIL" or m.startswith("PIL.")) and sys.modules[m] is not None))
"""


def _render_in_subprocess(extra_path: list[str], *, block_pillow: bool = False) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _RENDER.format(extra=extra_path, block_pillow=block_pillow)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_no_pillow_in_sys_modules() -> None:
    # matplotlib (the quickstart's chart, in the test extra) installs Pillow, and qrcode imports
    # Pillow on its own whenever it is installed; so "not installed" is simulated here the
    # standard way (a None entry in sys.modules makes every import of PIL fail).
    assert _render_in_subprocess([], block_pillow=True) == "[]"


def _decoy_pillow(tmp_path: Path) -> Path:
    """A "PIL" package that leaves a marker file and then fails to import."""
    decoy = tmp_path / "PIL"
    decoy.mkdir()
    marker = tmp_path / "pil-was-imported"
    (decoy / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise ImportError('decoy Pillow')\n"
    )
    return marker


def test_rendering_does_not_need_pillow_even_when_a_broken_one_is_installed(tmp_path: Path) -> None:
    # qrcode itself probes for Pillow on import and carries on without it; our PNG and text
    # renderers must never need it, even when the installed "Pillow" cannot be imported.
    _decoy_pillow(tmp_path)
    assert _render_in_subprocess([str(tmp_path)]) == "[]"
