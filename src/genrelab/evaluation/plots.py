"""Figures people would rather look at than read: confusion matrices and importances."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genrelab.atomic import atomic_path


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Save atomically (temp file + rename) so a killed run never leaves half a PNG."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    return Path(path)


def plot_confusion(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Row-normalised confusion matrix with counts in each cell."""
    plt = _figure()
    counts = np.asarray(matrix, dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(labels), 0.8 + 0.55 * len(labels)))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (row-normalised)")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                ax.text(
                    j,
                    i,
                    int(counts[i, j]),
                    ha="center",
                    va="center",
                    color="white" if rates[i, j] > 0.5 else "black",
                    fontsize=8,
                )
    fig.colorbar(image, ax=ax, fraction=0.046)
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def plot_importances(
    importances: np.ndarray, names: Sequence[str], path: str | Path, top: int = 20
) -> Path:
    """Horizontal bars of the ``top`` largest feature importances."""
    plt = _figure()
    order = np.argsort(importances)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1))
    ax.barh([names[i] for i in order], importances[order], color="#4c72b0")
    ax.set_xlabel("importance")
    ax.set_title("feature importances")
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def plot_curves(history, path: str | Path) -> Path:
    """Loss and accuracy per epoch (a frame with an ``epoch`` column), whole-epoch ticks."""
    from matplotlib.ticker import MaxNLocator

    plt = _figure()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for column in history.columns:
        if column.endswith("loss"):
            loss_ax.plot(history["epoch"], history[column], marker=".", label=column)
        elif "accuracy" in column:
            acc_ax.plot(history["epoch"], history[column], marker=".", label=column)
    for ax, title in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)
