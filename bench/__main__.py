"""``python -m bench``: the ParametricRampLayer benchmark (see ``bench/prelu.py``)."""

from bench.prelu import main

if __name__ == "__main__":
    main()
