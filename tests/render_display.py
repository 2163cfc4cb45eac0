"""The notebook display of wlnet's nets, as a developer sees it: an HTML page of ``_repr_html_``.

Builds the page's nets (the ParametricRampLayer of the documentation page, its NetChain with a
Boolean decoder, a NetGraph, a 20-layer chain and a NetTrainResults of a two-round training) and
the coders and a loss layer, writes their panels into one HTML page, and, when Chromium is
installed, takes a screenshot of it::

    PYTHONPATH=src python tests/render_display.py [directory]    # default: a new temporary one

It prints the paths of ``display.html`` and ``display.png``; look at the PNG. tests/test_display_browser.py
renders the same page and checks it.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import tempfile

from cases import page_chain
from wlnet import (
    All,
    CrossEntropyLossLayer,
    LinearLayer,
    NetChain,
    NetDecoder,
    NetEncoder,
    NetGraph,
    NetInitialize,
    NetPort,
    NetTrain,
    ParametricRampLayer,
    Ramp,
    Tanh,
)

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)


def small_graph():
    return NetGraph({"hidden": LinearLayer(3), "relu": Ramp, "out": LinearLayer(2)},
                    [(NetPort("x"), "hidden", "relu", "out"), ("hidden", NetPort("raw"))], x=4)


def long_chain(n=20):
    return NetChain([LinearLayer(4) if i % 2 == 0 else ParametricRampLayer() for i in range(n)], Input=3)


def trained_results():
    """The page's example 12, trained for two rounds, with all its results."""
    return NetTrain(page_chain(), {1: False, 2: True, 3: False, 4: True}, All, MaxTrainingRounds=2,
                    TrainingProgressReporting=None, RandomSeeding=1)


def items():
    """(caption, object) for every panel of the page."""
    return [
        ("ParametricRampLayer(Input=3), initialized", NetInitialize(ParametricRampLayer(Input=3))),
        ("ParametricRampLayer(), uninitialized", ParametricRampLayer()),
        ("The page's chain with NetDecoder(\"Boolean\")", page_chain()),
        ("A NetGraph with two outputs", NetInitialize(small_graph())),
        ("A NetGraph with a hostile layer name", NetGraph({"<script>alert(1)</script>": Tanh, "b&c": Ramp},
                                                          [("<script>alert(1)</script>", "b&c")], Input=2)),
        ("A 20-layer chain", long_chain()),
        ("NetTrainResults of a two-round training", trained_results()),
        ("NetEncoder(\"Boolean\")", NetEncoder("Boolean")),
        ("NetDecoder(\"Boolean\")", NetDecoder("Boolean")),
        ("CrossEntropyLossLayer(\"Binary\")", CrossEntropyLossLayer("Binary")),
    ]


#: For tests only, never part of a panel: after loading, writes the size of every panel and figure
#: into the page, so that ``--dump-dom`` shows what the browser laid out.
PROBE = """<script>
window.addEventListener("load", () => {
  const box = e => { const r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  const right = e => e.getBoundingClientRect().right;
  const overhang = e => Math.round(right(e) - right(e.closest(".wlnet-panel")));
  const geometry = {
    panels: [...document.querySelectorAll(".wlnet-panel")].map(box),
    figures: [...document.querySelectorAll(".wlnet-figure svg")].map(box),
    overhangs: [...document.querySelectorAll(".wlnet-figure svg")].map(overhang),
    page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
  };
  const out = document.createElement("pre");
  out.id = "geometry";
  out.textContent = JSON.stringify(geometry);
  document.body.appendChild(out);
});
</script>"""


def page(entries=None, probe: bool = False) -> str:
    """The HTML page: each panel under a caption, as Jupyter places output cells; with ``probe``,
    the script that records the laid-out sizes (see :data:`PROBE`)."""
    blocks = []
    for caption, value in entries or items():
        blocks.append(f'<section class="cell"><h2>{html.escape(caption)}</h2>{value._repr_html_()}</section>')
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>wlnet display</title>"
            "<style>body{margin:16px;background:#fff;font-family:sans-serif}"
            "h2{font-size:12px;color:#999;font-weight:normal;margin:14px 0 4px}</style></head><body>"
            + "".join(blocks) + (PROBE if probe else "") + "</body></html>")


def chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def render(path: str, png: str, browser: str, size=(1200, 3000), timeout=60) -> None:
    """A screenshot of the page at ``path`` into ``png``."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
             f"--window-size={size[0]},{size[1]}", f"file://{path}"],
            check=True, capture_output=True, timeout=timeout,
        )


def dump_dom(path: str, browser: str, width=1200, timeout=60) -> str:
    """The page's DOM as Chromium renders it in a window ``width`` pixels wide."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},3000", "--dump-dom",
             f"file://{path}"],
            check=True, capture_output=True, timeout=timeout, text=True,
        )
    return done.stdout


def main(argv: list[str]) -> None:
    directory = argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix="wlnet-display-")
    os.makedirs(directory, exist_ok=True)
    path = os.path.abspath(os.path.join(directory, "display.html"))
    with open(path, "w", encoding="utf-8") as file:
        file.write(page())
    print(path)
    browser = chromium()
    if browser is None:
        print("Chromium is not installed: no screenshot.")
        return
    png = os.path.join(directory, "display.png")
    render(path, png, browser)
    print(png)


if __name__ == "__main__":
    main(sys.argv)
