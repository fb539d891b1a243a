"""Run every benchmark (bounded in time, loopback only), then rewrite docs/benchmarks.md.

Run: ``python benchmarks/run_all.py`` or ``make bench``. ``--quick`` runs the short variants.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True)


def main() -> None:
    quick = "--quick" in sys.argv
    run("benchmarks/bench_payload.py")
    run("benchmarks/bench_layers.py", *(["--repeat", "1"] if quick else []))
    run("benchmarks/bench_deflate.py", *(["--quick"] if quick else []))
    run("benchmarks/wsbench.py", *(["--quick"] if quick else ["--suite"]))
    run("benchmarks/report.py")


if __name__ == "__main__":
    main()
