"""``python benchmarks/wsbench.py``: the load and latency benchmark's script entry point.

The harness is the package ``benchmarks/wsbench/`` (a package takes precedence over this file on
import, so ``import benchmarks.wsbench`` is the package); ``python -m benchmarks.wsbench`` and
``manage.py wsbench`` run the same command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.wsbench.cli import main

    sys.exit(main())
