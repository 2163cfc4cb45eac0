"""Run a benchmark's child in each allocator mode, each in its own process (default glibc malloc,
and ``WLNET_REUSE_MEMORY=1``), printing the mode before its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")
MODES = (("default malloc", {}), ("WLNET_REUSE_MEMORY=1", {"WLNET_REUSE_MEMORY": "1"}))


def in_each_mode(script: str, *arguments: str) -> None:
    """``python script --child *arguments`` once per mode, with ``src`` on the path."""
    for mode, extra in MODES:
        print(mode, flush=True)
        env = {**os.environ, **extra, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
        subprocess.run([sys.executable, script, "--child", *arguments], env=env, check=True)
