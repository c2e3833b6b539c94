"""Open the SMACK dashboards in a headless browser and read back what a person would see.

Used by the page's unit test (against a fake Prometheus) and by tests against a real cluster.
The browser is Debian's Chromium, driven through Playwright: Playwright's own browser
downloads need a host these machines cannot reach.

The page marks its progress for us: every panel gets data-series, data-points and (when a
query failed) data-error after each refresh, a panel still waiting has aria-busy="true", and
<body> gets data-dashboard (the tab shown) and data-loaded (refreshes completed).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

CHROMIUM = Path(os.environ.get("SMACK_CHROMIUM", "/usr/bin/chromium"))
VIEWPORT: ViewportSize = {"width": 1360, "height": 900}

# True once the dashboard asked for is drawn: one refresh completed for it and no panel
# still waiting for an answer.
READY_JS = """(dashboard) => {
  const body = document.body;
  return body !== null
    && body.dataset.dashboard === dashboard
    && Number(body.dataset.loaded || 0) >= 1
    && document.querySelectorAll('.panel').length > 0
    && document.querySelector('.panel[aria-busy="true"]') === null;
}"""

_READ_JS = """() => ({
  dashboard: document.body.dataset.dashboard,
  loaded: Number(document.body.dataset.loaded || 0),
  alerts_text: (document.getElementById('alerts') || {}).textContent || '',
  title: document.title,
  panels: [...document.querySelectorAll('.panel')].map((p) => {
    const message = p.querySelector('.message');
    const title = p.querySelector('.panel-title');
    return {
      title: title ? title.firstChild.textContent.trim() : '',
      series: Number(p.dataset.series),
      points: Number(p.dataset.points),
      error: p.dataset.error === undefined ? null : p.dataset.error,
      message: message && !message.hidden ? message.textContent : null,
      queries: JSON.parse(p.dataset.queries || '[]'),
      canvases: p.querySelectorAll('canvas').length,
    };
  }),
})"""


def capture(  # noqa: PLR0917 (the call shape the tests share)
    url: str,
    user: str,
    password: str,
    screenshot: Path,
    dashboard: str = "overview",
    timeout_s: float = 60,
) -> dict[str, Any]:
    """Load `url` (the page, e.g. http://host:9090/user/index.html?stack=x) on `dashboard`,
    wait until every panel has an answer, save a full-page PNG to `screenshot`, and return
    what the page shows: {"panels": [{"title", "series", "points", "error", "message",
    "queries", "canvases"}], "alerts_text", "dashboard", "loaded", "title",
    "console_errors"}."""
    # Imported here so that importing this module (e.g. for png_colour_count) needs no
    # browser tooling.
    from playwright.sync_api import sync_playwright

    base, _ = urldefrag(url)
    console_errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(
                http_credentials={"username": user, "password": password},
                viewport=VIEWPORT,
            )
            page = context.new_page()
            page.on(
                "console",
                lambda msg: console_errors.append(msg.text) if msg.type == "error" else None,
            )
            page.on("pageerror", lambda exc: console_errors.append(f"page error: {exc}"))
            page.goto(f"{base}#{dashboard}", wait_until="load", timeout=timeout_s * 1000)
            page.wait_for_function(READY_JS, arg=dashboard, timeout=timeout_s * 1000)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            result: dict[str, Any] = page.evaluate(_READ_JS)
        finally:
            browser.close()
    result["console_errors"] = console_errors
    return result


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(filt: int, line: bytearray, prev: bytearray, bpp: int) -> bytearray:
    """Undo one PNG row filter (PNG spec, section 9); filter 0 leaves the row as it is."""
    if filt == 1:
        for i in range(bpp, len(line)):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif filt == 2:
        line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
    elif filt == 3:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif filt == 4:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            upleft = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
    return line


def png_colour_count(path: Path, limit: int = 1000) -> int:
    """Distinct pixel colours in an 8-bit RGB/RGBA PNG (as Chromium writes them), counting
    up to `limit`. A blank or single-colour screenshot gives 1 or a handful. Pure Python, so
    the tests need no imaging library."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat = 8, bytearray()
    width = height = bpp = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour_type not in (2, 6) or interlace:
                raise ValueError(f"{path}: only 8-bit, non-interlaced RGB(A) is read here")
            bpp = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    prev = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), prev, bpp)
        if len(colours) < limit:
            colours.update(bytes(line[i : i + bpp]) for i in range(0, stride, bpp))
        prev = line
    return min(len(colours), limit)
