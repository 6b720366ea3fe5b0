"""Pretrained-backbone embeddings as feature vectors: one pooled row per analysis window, cached.

An embedder turns a window of audio into one vector (musicnn: its 3 s patches' embeddings
pooled over the window; Hugging Face models: hidden states pooled over frames and over
backbone-length chunks). It is also a :class:`~genrelab.features.sets.FeatureSet`, so datasets
go through the same windowing, parallel extraction and content-keyed
:class:`~genrelab.features.cache.FeatureCache` as handcrafted features, and any registered
feature head (logreg, svm, xgboost, knn, mlp) trains on it. The embedder's :meth:`spec` is the
card's front end, so ``Classifier`` rebuilds exactly the same computation at inference.

musicnn needs only onnxruntime; Hugging Face backbones import torch and transformers lazily.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, replace
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from genrelab import parallel
from genrelab.errors import DataError, ModelError
from genrelab.features.sets import FeatureSet, get_feature_set
from genrelab.pretrained.musicnn_onnx import (
    BACKENDS,
    EMBEDDINGS,
    MIN_SAMPLES,
    SR,
    MusicnnTagger,
    check_model,
    patches,
    resource_dir,
    tag_names,
)
from genrelab.pretrained.pooling import POOLS, pool, spread

if TYPE_CHECKING:
    from collections.abc import Sequence

    from genrelab.training import FeatureData

#: Short backbone names accepted wherever a Hugging Face id or path is.
MUSICNN_BACKBONES = {"musicnn-msd": "MSD_musicnn", "musicnn-mtt": "MTT_musicnn"}


class Embedder(Protocol):
    """What :func:`load_embedding_data` and the front ends need from a backbone."""

    sample_rate: int
    min_seconds: float

    def __call__(self, windows: Sequence[np.ndarray], sr: int) -> np.ndarray: ...

    def names(self) -> tuple[str, ...]: ...

    def spec(self) -> dict[str, Any]: ...

    def fingerprint(self) -> str: ...


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped so saturated sigmoids stay finite."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _as_list(layer: str | Sequence[str] | None) -> list[str]:
    if layer is None:
        return []
    return [layer] if isinstance(layer, str) else list(layer)


def _pooled_names(names: Sequence[str], how: str) -> list[str]:
    if how == "mean+std":
        return [f"{n}.mean" for n in names] + [f"{n}.std" for n in names]
    return [f"{n}.{how}" for n in names]


@cache
def _tagger(model: str, backend: str) -> MusicnnTagger:
    """One session per model and process (sessions are not picklable; embedders stay light)."""
    return MusicnnTagger(model, backend=backend)


@cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class MusicnnEmbedder:
    """musicnn patch outputs pooled over each window; optionally with handcrafted features.

    ``layer``: ``max_pool``, ``mean_pool``, ``penultimate``, a list of them (concatenated in
    that order) or ``None`` (no embedding). ``tags`` appends the pooled tag probabilities, or
    with ``tag_logits`` their log-odds (which linear heads separate better than probabilities
    squashed near 0 and 1). ``features`` prepends a handcrafted feature set computed on the
    window at its own rate (for models that stack both). ``max_patches`` keeps that many of a
    window's patches, spread by :func:`spread` (bounded network time on long windows);
    ``patch_budget`` raises that for short tracks (see :meth:`for_track`). ``also`` runs a
    second musicnn model on the same patches (one log-mel pass) and appends its
    ``also_layer`` embeddings and, with ``tags``, its tags. ``tag_probs`` (with ``tag_logits``)
    appends, last, the window's mean tag probabilities of ``model``: what a track's tags are
    read from (:meth:`track_tags`), as ``genrelab tags`` averages probabilities, not log-odds.
    """

    model: str = "MSD_musicnn"
    layer: str | Sequence[str] | None = "max_pool"
    pool: str = "mean"
    tags: bool = False
    tag_logits: bool = False
    patch_hop: float | None = None
    max_patches: int | None = None
    features: str | None = None
    backend: str = "onnx"
    also: str | None = None
    also_layer: str | Sequence[str] | None = None
    patch_budget: int | None = None
    tag_probs: bool = False

    def __post_init__(self) -> None:
        check_model(self.model)
        if self.also is not None:
            check_model(self.also)
        for name in ("layer", "also_layer"):
            if isinstance(getattr(self, name), list):  # from a JSON card; tuples stay hashable
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.also is None and self.also_layer is not None:
            raise ModelError("also_layer needs also (a second musicnn model)")
        if self.patch_budget is not None and self.patch_budget < 1:
            raise ModelError(f"patch_budget must be at least 1, got {self.patch_budget}")
        for layer in self.layers + self.also_layers:
            if layer not in EMBEDDINGS:
                raise ModelError(
                    f"unknown musicnn layer {layer!r}; choose one of {', '.join(EMBEDDINGS)}"
                )
        if not self.layers and not self.tags:
            raise ModelError("a musicnn front end needs a layer, tags=true, or both")
        if self.tag_logits and not self.tags:
            raise ModelError("tag_logits needs tags=true")
        if self.tag_probs and not self.tag_logits:
            raise ModelError("tag_probs adds probabilities to tag_logits rows; it needs tag_logits")
        if self.pool not in POOLS:
            raise ModelError(f"unknown pooling {self.pool!r}; choose one of {', '.join(POOLS)}")
        if self.max_patches is not None and self.max_patches < 1:
            raise ModelError(f"max_patches must be at least 1, got {self.max_patches}")
        if self.backend not in BACKENDS:
            raise ModelError(f"unknown musicnn backend {self.backend!r}")
        if self.features is not None:
            get_feature_set(self.features)

    @property
    def layers(self) -> list[str]:
        return _as_list(self.layer)

    @property
    def also_layers(self) -> list[str]:
        return _as_list(self.also_layer)

    def for_track(self, n_windows: int) -> MusicnnEmbedder:
        """This front end for a track of ``n_windows`` windows: with a ``patch_budget``, short
        tracks get more patches per window (a 30 s clip all 10), so every track is heard
        through about the same number of patches while long ones keep bounded time."""
        if self.patch_budget is None or self.max_patches is None or n_windows < 1:
            return self
        per_window = max(self.max_patches, self.patch_budget // n_windows)
        return self if per_window == self.max_patches else replace(self, max_patches=per_window)

    @property
    def sample_rate(self) -> int:
        """Rate windows should arrive at: musicnn's own, or the handcrafted features' 22,050 Hz."""
        return 22050 if self.features else SR

    @property
    def min_seconds(self) -> float:
        return float(np.ceil(MIN_SAMPLES / SR * 10) / 10)

    def spec(self) -> dict[str, Any]:
        """The card's front end: ``build_frontend`` turns it back into this embedder."""
        layer = self.layer if self.layer is None or isinstance(self.layer, str) else self.layers
        spec: dict[str, Any] = {"kind": "musicnn", "model": self.model, "layer": layer}
        spec.update(pool=self.pool, tags=self.tags)
        if self.also is not None:
            also_layer = self.also_layer
            spec.update(
                also=self.also,
                also_layer=list(also_layer) if isinstance(also_layer, tuple) else also_layer,
            )
        keys = ("tag_logits", "patch_hop", "max_patches", "patch_budget", "features", "tag_probs")
        for key in keys:
            if (value := getattr(self, key)) not in (None, False):
                spec[key] = value
        return spec

    def names(self) -> tuple[str, ...]:
        names = list(get_feature_set(self.features).names) if self.features else []
        width = {"max_pool": 753, "mean_pool": 753, "penultimate": 200}
        for layer in self.layers:
            names += _pooled_names([f"{layer}{i}" for i in range(width[layer])], self.pool)
        kind = "tag_logit" if self.tag_logits else "tag"
        if self.tags:
            names += _pooled_names([f"{kind}:{t}" for t in tag_names(self.model)], self.pool)
        if self.also is not None:
            for layer in self.also_layers:
                ids = [f"{self.also}:{layer}{i}" for i in range(width[layer])]
                names += _pooled_names(ids, self.pool)
            if self.tags:
                ids = [f"{self.also}:{kind}:{t}" for t in tag_names(self.also)]
                names += _pooled_names(ids, self.pool)
        if self.tag_probs:
            names += _pooled_names([f"tag_prob:{t}" for t in tag_names(self.model)], self.pool)
        return tuple(names)

    def fingerprint(self) -> str:
        """What makes the values change: the spec and the shipped network."""
        models = [self.model] + ([self.also] if self.also else [])
        networks = [_file_digest(resource_dir() / f"{m}.onnx") for m in models]
        return json.dumps([self.spec(), *networks], sort_keys=True)

    def _select(self, x: np.ndarray) -> np.ndarray:
        return x if self.max_patches is None else x[spread(len(x), self.max_patches)]

    def __call__(self, windows: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """One row per window; every window's patches go through the network in one batch.

        Handcrafted features, when asked for, are computed in other threads meanwhile.
        """
        handcrafted = []
        if self.features:
            fn = get_feature_set(self.features).fn
            handcrafted = parallel.starmap(fn, ((w, sr) for w in windows))
        per_window = [self._select(patches(w, sr, self.patch_hop)) for w in windows]
        x = np.concatenate(per_window)
        runs = [(_tagger(self.model, self.backend).predict(x), self.layers)]
        if self.also is not None:
            runs.append((_tagger(self.also, self.backend).predict(x), self.also_layers))
        bounds = np.cumsum([0, *map(len, per_window)])
        rows = []
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            parts = [handcrafted[i].result()] if self.features else []
            for out, layers in runs:
                parts += [pool(out[layer][lo:hi], self.pool) for layer in layers]
                if self.tags:
                    tags = out["taggram"][lo:hi].astype(np.float64)
                    if self.tag_logits:
                        tags = logit(tags)
                    parts.append(pool(tags, self.pool))
            if self.tag_probs:
                parts.append(pool(runs[0][0]["taggram"][lo:hi].astype(np.float64), self.pool))
            rows.append(np.concatenate(parts))
        return np.asarray(rows, dtype=np.float64)

    def prepare(self) -> None:
        """Warm up the handcrafted features' kernels, if there are any."""
        if self.features:
            get_feature_set(self.features).warm_up()

    def track_tags(self, rows: np.ndarray, k: int = 5) -> list[tuple[str, float]] | None:
        """The ``k`` top tags of a track from this front end's rows for its windows.

        The rows already hold each window's mean tag probabilities (or log-odds), so a
        classifier that uses them gets the track's tags without a second network pass. A
        track's tag probability is the mean over windows of each window's probability (for
        log-odds rows, the sigmoid of the window's mean over its patches), as ``genrelab
        tags`` averages its patches: averaging log-odds across windows would let a few
        confident windows (a hip-hop final minute) vanish under the others. ``None`` when the
        rows carry no mean-pooled tags.
        """
        if not self.tags or self.pool not in ("mean", "mean+std") or len(rows) == 0:
            return None
        tags = tag_names(self.model)
        kind = "tag_prob" if self.tag_probs else "tag_logit" if self.tag_logits else "tag"
        first = self.names().index(f"{kind}:{tags[0]}.mean")
        scores = np.asarray(rows, dtype=np.float64)[:, first : first + len(tags)]
        if kind == "tag_logit":
            scores = 1 / (1 + np.exp(-scores))
        scores = scores.mean(axis=0)
        from genrelab.pretrained.tagging import ranked

        return ranked(scores, tags, k)


def make_embedder(backbone: str, **options: Any) -> Embedder:
    """An embedder for ``musicnn-msd``/``musicnn-mtt`` or a Hugging Face hub id or local path.

    ``options`` are the embedder's keyword arguments (``layer``, ``pool``, ``tags``, ...).
    """
    try:
        if backbone in MUSICNN_BACKBONES:
            return MusicnnEmbedder(MUSICNN_BACKBONES[backbone], **options)
        if backbone in MUSICNN_BACKBONES.values():
            return MusicnnEmbedder(backbone, **options)
        from genrelab.pretrained.hf import HFEmbedder

        return HFEmbedder(backbone, **options)
    except TypeError as err:
        raise ModelError(f"bad option for backbone {backbone!r}: {err}") from err


def _one_window(embedder: Embedder, y: np.ndarray, sr: int) -> np.ndarray:
    return embedder([y], sr)[0]


def embedding_feature_set(embedder: Embedder) -> FeatureSet:
    """The embedder as a feature set; its fingerprint versions the cache entries."""
    spec = embedder.spec()
    label = spec.get("model") or spec.get("backbone", "")
    slug = "".join(c if c.isalnum() or c in "_.-" else "_" for c in str(label).strip("/"))
    digest = hashlib.sha256(embedder.fingerprint().encode()).hexdigest()[:16]
    return FeatureSet(
        name=f"{spec['kind']}-{slug[-60:]}",
        names=embedder.names(),
        fn=partial(_one_window, embedder),
        description=f"{spec['kind']} embeddings ({label})",
        version=digest,
    )


def load_embedding_data(
    spec: str,
    backbone: str = "musicnn-msd",
    *,
    window_s: float = 30.0,
    hop_s: float | None = None,
    cache_dir: str | None = None,
    n_jobs: int = 1,
    **options: Any,
) -> FeatureData:
    """Embed every track of an audio dataset, one pooled row per window, through the cache.

    The result trains any feature head with :func:`genrelab.training.train`; its front end
    (the card's) rebuilds the embedder, so the bundle classifies files unchanged.
    """
    from genrelab.data import load_dataset
    from genrelab.training import load_feature_data, table_features

    if table_features(load_dataset(spec)):
        raise DataError(f"{spec} is a feature table; embeddings need a dataset of audio files")
    embedder = make_embedder(backbone, **options)
    data = load_feature_data(
        spec,
        embedding_feature_set(embedder),  # a FeatureSet passes through get_feature_set
        window_s=window_s,
        hop_s=hop_s,
        sr=embedder.sample_rate,
        cache_dir=cache_dir,
        n_jobs=n_jobs,
    )
    windowing = {**data.windowing, "min_s": max(data.windowing["min_s"], embedder.min_seconds)}
    return replace(data, frontend=embedder.spec(), windowing=windowing)
