"""The panels as a user sees them: a page of ``_repr_html_`` outputs rendered by headless Chromium.

The page (built by tests/render_display.py, which a developer runs to look at it) holds the
page's ParametricRampLayer, its NetChain with a Boolean decoder, a NetGraph, one with hostile layer
names, a 20-layer chain, a NetTrainResults, coders and a loss layer. The screenshot must show the
panels (not blank; the layer boxes' colours of the inline SVG drawn), and the rendered DOM must
hold every panel, its rows and its figures, laid out with a size, and no script of a layer name.
"""

import json
import os
import re
import shutil

import pytest
from matplotlib.image import imread

from render_display import dump_dom, items, page, render

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (/usr/bin/chromium or chromium "
                                                          "on PATH): the panels are not rendered in a browser")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    directory = tmp_path_factory.mktemp("display")
    entries = items()
    path = directory / "display.html"
    path.write_text(page(entries, probe=True), encoding="utf-8")
    png = directory / "display.png"
    render(str(path), str(png), CHROMIUM, size=(1200, 3000))
    return entries, dump_dom(str(path), CHROMIUM), imread(str(png)), dump_dom(str(path), CHROMIUM, width=700)


def colour_count(image, rgb, tolerance=3) -> int:
    """How many pixels of the screenshot have the colour ``rgb`` (0-255 each)."""
    pixels = (image[..., :3] * 255).round()
    return int((abs(pixels - rgb) <= tolerance).all(axis=-1).sum())


def test_the_screenshot_shows_the_panels(rendered):
    image = rendered[2]
    assert image.shape[:2] == (3000, 1200)
    white = (image[..., :3] > 0.98).all(axis=-1)
    assert 0.05 < 1 - white.mean() < 0.6  # drawn, not blank, not a wall of colour
    assert colour_count(image, (211, 211, 211)) > 2000  # the panels' light grey borders
    assert colour_count(image, (0xE4, 0xED, 0xF8)) > 5000  # LinearLayer boxes of the drawn nets
    assert colour_count(image, (0xFB, 0xE8, 0xD5)) > 5000  # ParametricRampLayer boxes
    assert colour_count(image, (0x1F, 0x77, 0xB4), tolerance=30) > 50  # the loss plot's line
    rows_with_ink = (~white).any(axis=1)
    assert rows_with_ink[:1500].mean() > 0.5  # panels follow each other down the page


def test_the_rendered_dom_has_every_panel_and_figure(rendered):
    entries, dom = rendered[:2]
    titles = re.findall(r'<span class="wlnet-title"[^>]*>([^<]*)</span>', dom)
    assert titles == [
        "ParametricRampLayer", "ParametricRampLayer", "NetChain (4 layers)", "NetGraph (3 layers)",
        "NetGraph (2 layers)", "NetChain (20 layers)", "NetTrainResults", "NetEncoder", "NetDecoder",
        "CrossEntropyLossLayer",
    ]
    assert len(titles) == len(entries)
    assert dom.count('<tr class="wlnet-port">') == 2 + 2 + 2 + 3 + 2 + 2 + 3
    assert dom.count('<tr class="wlnet-layer">') == 4 + 3 + 2 + 20
    assert "NetDecoder(\"Boolean\")</span>" in dom or "NetDecoder(&quot;Boolean&quot;)" in dom
    assert len(re.findall(r"<svg\b", dom)) == 5  # four drawn nets and the loss plot
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert len(re.findall(r"<script\b", dom)) == 1  # the test's own probe: no layer name became a script


def geometry(dom: str) -> dict:
    """The sizes the page's probe recorded: panels and figures (width, height), how far each figure
    reaches past the right edge of its panel, and the page's scroll size."""
    return json.loads(re.search(r'<pre id="geometry">(.*?)</pre>', dom).group(1).replace("&quot;", '"'))


@pytest.mark.parametrize("width", [1200, 700])
def test_the_browser_lays_the_panels_out(rendered, width):
    laid_out = geometry(rendered[1] if width == 1200 else rendered[3])
    panels, figures = laid_out["panels"], laid_out["figures"]
    assert len(panels) == 10 and all(w > 100 and h > 40 for w, h in panels)
    assert all(w <= width - 2 * 16 for w, _ in panels)  # no panel wider than the window
    assert laid_out["page"][0] <= width  # nothing to scroll sideways
    assert len(figures) == 5 and all(w > 100 and h > 30 for w, h in figures)
    assert all(overhang <= 0 for overhang in laid_out["overhangs"])  # figures shrink to fit their panel
    chain_graph, _, _, long_graph, plot = figures
    assert chain_graph[0] > 3 * chain_graph[1]  # the page's chain reads left to right
    assert long_graph[1] > 3 * long_graph[0]  # the 20-layer chain top to bottom
    assert plot[0] > 1.3 * plot[1]
