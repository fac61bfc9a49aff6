"""Open report.html in headless Chromium with the network disabled: the page is not blank and every image
decodes (naturalWidth > 0). Uses the chromium command line only (no driver): --screenshot for the pixels,
--dump-dom after the load event for the images. Skipped when chromium is not installed (Debian: chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from test_report_fixtures import needs_shared, paper_report_dir

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)
pytestmark = [needs_shared, pytest.mark.slow,  # starts chromium
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")]

# Report every <img> after load, into the DOM that --dump-dom prints.
PROBE = """<script>window.addEventListener('load', function () {
  var out = document.createElement('pre'); out.id = 'wv-probe';
  out.textContent = JSON.stringify(Array.prototype.map.call(document.images, function (i) {
    return [i.complete, i.naturalWidth, i.naturalHeight]; }));
  document.body.appendChild(out); });</script>"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             # no network: every host resolves to nothing and every proxied request goes to a closed port
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
             "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return paper_report_dir(tmp_path_factory) / "report.html"


def test_every_image_decodes(report, tmp_path):
    probed = tmp_path / "probe.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = chromium(tmp_path / "profile", "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="wv-probe">([^<]*)</pre>', result.stdout)
    assert match, f"chromium printed no probe (exit {result.returncode}): {result.stderr[-500:]}"
    images = json.loads(match.group(1))
    assert len(images) == report.read_text(encoding="utf-8").count("<img ") >= 8
    assert all(complete and width > 0 and height > 0 for complete, width, height in images), images


def test_screenshot_is_not_blank(report, tmp_path):
    from PIL import Image  # matplotlib depends on pillow

    shot = tmp_path / "report.png"
    result = chromium(tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}", report.as_uri())
    assert shot.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-500:]}"
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1280)
    assert pixels.std() > 20, "the page looks blank"
    # the part showing the first figure (below the design tables) is not blank either
    assert pixels[1200:].std() > 10
