"""Accuracy, balanced accuracy, macro-F1, per-class scores and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Headline and per-class metrics; ``labels`` fixes the class order of the matrix."""
    labels = list(labels)
    y_true, y_pred = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "n": int(y_true.size),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "labels": labels,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def summarize_folds(fold_metrics: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean and standard deviation of the headline metrics over folds or seeds."""
    out: dict[str, float] = {}
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        values = np.array([m[key] for m in fold_metrics])
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
    out["folds"] = len(fold_metrics)
    return out


def format_metrics_table(metrics: dict[str, Any]):
    """A rich table of per-class precision/recall/F1 with the headline numbers as caption."""
    from rich.table import Table

    table = Table(
        title="per-class scores",
        caption=(
            f"accuracy {metrics['accuracy']:.4f} · balanced accuracy {metrics['balanced_accuracy']:.4f}"
            f" · macro-F1 {metrics['macro_f1']:.4f} · n={metrics['n']}"
        ),
    )
    for col in ("genre", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "genre" else "right")
    for label, row in metrics["per_class"].items():
        table.add_row(
            label,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    return table
