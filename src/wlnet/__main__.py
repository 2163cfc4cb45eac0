"""Command line: ``python -m wlnet tour`` runs the ParametricRampLayer page's examples."""

from __future__ import annotations

import argparse
import sys

#: What ``python -m wlnet --help`` says: plain text, as a terminal shows it (the module doc is reST).
DESCRIPTION = (
    "wlnet from the command line. The command tour runs the examples of the Wolfram Language's "
    "ParametricRampLayer page in wlnet, one by one, with their results."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wlnet", description=DESCRIPTION)
    parser.add_argument("command", choices=["tour"], help="tour: run the documentation page's examples")
    args = parser.parse_args(argv)
    if args.command == "tour":
        from .tour import run

        run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
