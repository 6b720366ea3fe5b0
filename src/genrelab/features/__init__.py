"""Handcrafted features: named feature sets, per-window extraction and an on-disk cache."""

from genrelab.features.cache import FeatureCache
from genrelab.features.extract import extract_dataset, window_features
from genrelab.features.reference import GTZAN_FEATURE_NAMES, gtzan_features
from genrelab.features.sets import FEATURE_SETS, FeatureSet, get_feature_set, register_feature_set

__all__ = [
    "FEATURE_SETS",
    "GTZAN_FEATURE_NAMES",
    "FeatureCache",
    "FeatureSet",
    "extract_dataset",
    "get_feature_set",
    "gtzan_features",
    "register_feature_set",
    "window_features",
]
