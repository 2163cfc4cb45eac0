"""``python -m bench``: the ParametricRampLayer benchmark (``bench/prelu.py``); ``python -m bench
scaling``: data-parallel NetTrain with 2 CPU processes against 1 (``bench/scaling.py``); ``python -m
bench nettrain``: NetTrain against a hand-written loop (``bench/nettrain.py``). Options follow the
benchmark's name (``--quick``)."""

import sys

if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "prelu"
    arguments = sys.argv[2:] if name != "prelu" or (len(sys.argv) > 1 and sys.argv[1] == "prelu") else sys.argv[1:]
    if name == "scaling":
        from bench.scaling import main
    elif name == "nettrain":
        from bench.nettrain import main
    else:
        from bench.prelu import main
    main(arguments)
