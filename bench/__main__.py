"""``python -m bench``: the ParametricRampLayer benchmark (``bench/prelu.py``); ``python -m bench
scaling``: data-parallel NetTrain with 2 CPU processes against 1 (``bench/scaling.py``); ``python -m
bench nettrain``: NetTrain against a hand-written loop (``bench/nettrain.py``); ``python -m bench
shapes``: PReLU steps on an iresnet's shapes, eager and compiled, and ``--sweep`` by size
(``bench/shapes.py``); ``python -m bench models``: whole training steps of iresnet18 and SRResNet
(``bench/models.py``); ``python -m bench convnets``: a VGG-style PReLU CNN, torch against wlnet's
image-net layers (``bench/convnets.py``). Options follow the
benchmark's name (``--quick``)."""

import sys

if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "prelu"
    arguments = sys.argv[2:] if name != "prelu" or (len(sys.argv) > 1 and sys.argv[1] == "prelu") else sys.argv[1:]
    if name == "scaling":
        from bench.scaling import main
    elif name == "nettrain":
        from bench.nettrain import main
    elif name == "shapes":
        from bench.shapes import main
    elif name == "models":
        from bench.models import main
    elif name == "convnets":
        from bench.convnets import main
    else:
        from bench.prelu import main
    main(arguments)
