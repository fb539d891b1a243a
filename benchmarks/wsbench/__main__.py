"""``python -m benchmarks.wsbench``: the same command line as ``python benchmarks/wsbench.py``."""

from __future__ import annotations

import sys

from benchmarks.wsbench.cli import main

sys.exit(main(launcher=("python", "-m", "benchmarks.wsbench")))
