"""Handcrafted features: named feature sets, per-window extraction and an on-disk cache.

Names resolve on first use, so importing a submodule (e.g. the fast path) does not import
librosa, joblib or the cache with it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FEATURE_SETS": "genrelab.features.sets",
    "FeatureSet": "genrelab.features.sets",
    "available_feature_sets": "genrelab.features.sets",
    "get_feature_set": "genrelab.features.sets",
    "register_feature_set": "genrelab.features.sets",
    "GTZAN_FEATURE_NAMES": "genrelab.features.columns",
    "gtzan_features": "genrelab.features.reference",
    "FeatureCache": "genrelab.features.cache",
    "extract_dataset": "genrelab.features.extract",
    "window_features": "genrelab.features.extract",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
