"""Write docs/benchmarks.md from the results under benchmarks/results/.

Run: ``python benchmarks/report.py`` (``make bench`` runs every benchmark, then this).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

INTRO = """# Benchmarks

Every figure on this page comes from a script in `benchmarks/`, run on the project's 2-core
machine; the exact command is given with each table. `make bench` runs them all and rewrites this
page with `python benchmarks/report.py` (the results stay in `benchmarks/results/*.json`). Figures
measured while other work shared the machine say so; rerun to compare on your own hardware.
"""


def layers_section() -> str:
    from benchmarks.bench_layers import markdown

    path = RESULTS / "layers.json"
    if not path.exists():
        return ""
    result = json.loads(path.read_text())
    return (
        "## Batching channel layer\n\nCommand: `python benchmarks/bench_layers.py` "
        "(50 group members x 1,000 `group_send`, a private redis-server; medians of 3 runs).\n\n"
        + markdown(result)
        + "\n"
    )


def section(name: str) -> str:
    path = RESULTS / name
    return path.read_text().strip() + "\n" if path.exists() else ""


def main() -> None:
    parts = [
        INTRO,
        section("payload.md"),
        section("load.md"),
        layers_section(),
        section("deflate.md"),
    ]
    text = "\n".join(part for part in parts if part)
    (ROOT / "docs" / "benchmarks.md").write_text(text)
    print(f"wrote docs/benchmarks.md ({len(text):,} characters)")


if __name__ == "__main__":
    main()
