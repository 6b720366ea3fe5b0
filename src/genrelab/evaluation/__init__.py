"""Metrics and plots for judging genre models."""

from genrelab.evaluation.metrics import classification_metrics, format_metrics_table

__all__ = ["classification_metrics", "format_metrics_table"]
