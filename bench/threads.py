"""Thread counts for the tree and neighbour models: fit seconds and accuracy per ``n_jobs``.

    python bench/threads.py [--data ../shared/data/gtzan-features/features_30_sec.csv]

Fits XGBoost, random forest and KNN (their genrelab defaults apart from ``n_jobs``) on a
seeded 80/20 split of the Kaggle GTZAN table (930 rows x 57 features; without it, a seeded
synthetic table of the same shape) with ``n_jobs`` = 1, 2, 4 and -1 (every core), and prints
wall seconds and test accuracy. It ran on a 2-core VM shared with other jobs; the default
``n_jobs`` in :mod:`genrelab.models.classical` was chosen from it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from genrelab.models import create_model

DEFAULT_DATA = Path(__file__).parents[1] / "../shared/data/gtzan-features/features_30_sec.csv"


def table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if path.is_file():
        import pandas as pd

        df = pd.read_csv(path)
        return df.iloc[:, 2:-1].to_numpy(np.float64), df["label"].to_numpy(str)
    rng = np.random.default_rng(0)
    labels = np.repeat([f"g{i}" for i in range(10)], 93)
    centres = rng.standard_normal((10, 57))
    X = centres[np.searchsorted(np.unique(labels), labels)] + 2 * rng.standard_normal((930, 57))
    return X, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    X, y = table(args.data)
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    train, test = order[:cut], order[cut:]
    result = Table(
        title=f"{len(y)} rows, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        title_justify="left",
    )
    for column in ("model", "n_jobs", "fit s", "accuracy"):
        result.add_column(column, justify="left" if column == "model" else "right")
    for name in ("xgboost", "random_forest", "knn"):
        for jobs in (1, 2, 4, -1):
            model = create_model(name, n_jobs=jobs)
            started = time.perf_counter()
            model.fit(X[train], y[train])
            seconds = time.perf_counter() - started
            predicted = model.classes_[model.predict_proba(X[test]).argmax(1)]
            accuracy = float((predicted == y[test]).mean())
            result.add_row(name, str(jobs), f"{seconds:.2f}", f"{accuracy:.4f}")
    Console().print(result)


if __name__ == "__main__":
    main()
