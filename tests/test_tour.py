"""The tour runs every example and shows the page's results."""

from wlnet.__main__ import main
from wlnet.tour import EXAMPLES, run


def test_tour_runs_every_example_with_the_page_results():
    lines = []
    run(out=lines.append)
    text = "\n".join(lines)
    assert text.count("Wolfram:") == len(EXAMPLES)
    assert "result : [[10.  10.  10. ]\n            [-2.5 -2.5 -2.5]]" in text
    assert "result : [[-0.3 -0.2 -0.1]\n            [ 0.   1.   2. ]]" in text
    assert "'[1, 3]': (2, 4)" in text
    assert 'NetExtract(trained, [2, "Slope"])\n  result : 0.1' in text  # the frozen slope
    assert "loaded == trained, [loaded(x) for x in (1, 2, 3, 4)]\n  result : (True, [" in text  # saved, loaded


def test_command_line_entry_point(capsys, monkeypatch):
    import wlnet.tour

    monkeypatch.setattr(wlnet.tour, "EXAMPLES", EXAMPLES[:2])  # the whole tour ran above
    assert main(["tour"]) == 0
    assert "ParametricRampLayer(1)  # Slope: uninitialized" in capsys.readouterr().out
