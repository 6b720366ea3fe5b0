"""Default model: NumPy-only (portable.npz) against the pickled libraries, load and predict.

    python bench/portable.py [--repeats 5]

"import + load" runs a fresh interpreter per repeat (the cost a classify process pays):
``from genrelab.models import load_bundle; load_bundle(path)``, timed inside the child from
before the import to after the load, and as the whole process's wall time. The library side
loads a copy of the default bundle without its portable.npz files, i.e. the joblib pickles.
Predict times are medians over repeats in this process, on seeded N(0, 1) rows.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from genrelab.models import default_bundle_path, load_bundle
from genrelab.models.portable import FILE
from genrelab.models.trust import Trust

CHILD = (
    "import time; t = time.perf_counter()\n"
    "from genrelab.models import load_bundle\n"
    "from genrelab.models.trust import Trust\n"
    "load_bundle({path!r}, trust=Trust(pickle=True))\n"
    "import sys; print(time.perf_counter() - t)\n"
    "print(sorted(m for m in ('sklearn', 'xgboost', 'joblib', 'scipy') if m in sys.modules))\n"
)


def fresh_load(path: Path, repeats: int) -> tuple[float, float, str]:
    """Median in-child import+load seconds, median process wall seconds, heavy modules seen."""
    inside, wall, heavy = [], [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD.format(path=str(path))],
            capture_output=True,
            text=True,
            check=True,
        )
        wall.append(time.perf_counter() - started)
        seconds, heavy = out.stdout.splitlines()
        inside.append(float(seconds))
    return statistics.median(inside), statistics.median(wall), heavy


def predict_time(model, X: np.ndarray, repeats: int) -> float:
    model.predict_proba(X)  # warm caches and lazy set-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict_proba(X)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    source = default_bundle_path()
    with tempfile.TemporaryDirectory() as tmp:
        pickled = Path(tmp) / "pickled"
        shutil.copytree(source, pickled, ignore=shutil.ignore_patterns(FILE))
        load_portable = fresh_load(source, args.repeats)
        load_library = fresh_load(pickled, args.repeats)
        portable, library = (
            load_bundle(source).model,
            load_bundle(pickled, trust=Trust(pickle=True)).model,
        )

    rng = np.random.default_rng(0)
    rows = {n: rng.normal(size=(n, 1060)) for n in (8, 1000)}
    table = Table(title=f"default model, portable.npz vs joblib pickles (median of {args.repeats})")
    table.add_column("step")
    table.add_column("portable", justify="right")
    table.add_column("library", justify="right")
    table.add_column("speed-up", justify="right")

    def add(step: str, fast: float, slow: float) -> None:
        table.add_row(step, f"{fast * 1e3:.1f} ms", f"{slow * 1e3:.1f} ms", f"{slow / fast:.1f}x")

    add("import + load (in a fresh process)", load_portable[0], load_library[0])
    add("whole process (interpreter + import + load)", load_portable[1], load_library[1])
    for n, X in rows.items():
        add(
            f"predict_proba, {n} rows",
            predict_time(portable, X, args.repeats),
            predict_time(library, X, args.repeats),
        )
        diff = np.abs(portable.predict_proba(X) - library.predict_proba(X)).max()
        table.add_row(f"  max |difference|, {n} rows", f"{diff:.1e}", "", "")
    table.caption = (
        f"heavy modules after load: portable {load_portable[2]}, library {load_library[2]}"
    )
    Console().print(table)


if __name__ == "__main__":
    main()
