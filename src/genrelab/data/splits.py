"""Train/valid/test protocols: group-aware random splits, k-fold, and the GTZAN filtered split.

Every protocol keeps rows that share a ``group`` (the windows of one track, the tracks of one
artist) in the same split: a group on both sides of a split lets a model recognise the
recording instead of the genre and inflates accuracy.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from types import MappingProxyType

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from genrelab.errors import DataError
from genrelab.protocols import parse_protocol

log = logging.getLogger(__name__)

#: Split names, in protocol order.
SPLITS: tuple[str, ...] = ("train", "valid", "test")


class LeakageWarning(UserWarning):
    """A split puts rows of one group on both sides, so its scores are optimistic."""


@cache
def gtzan_filtered_ids() -> Mapping[str, str]:
    """Track id (``blues.00029``) -> split of the artist-filtered GTZAN split.

    The lists are the public metadata of Kereliuk, Sturm & Larsen (2015), shipped with the
    package; the 70 faulty or duplicate clips are in none of them.
    """
    folder = resources.files("genrelab").joinpath("resources/splits/gtzan_filtered")
    return MappingProxyType(
        {
            track: split
            for split in SPLITS
            for track in folder.joinpath(f"{split}.txt").read_text(encoding="utf-8").split()
        }
    )


def _require(df: pd.DataFrame, columns: Sequence[str], *, filled: bool = True) -> None:
    """Raise a :class:`DataError` if a column is absent or, with ``filled``, has an empty cell."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"dataset lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))}"
        )
    for column in columns if filled else ():
        values = df[column]
        if values.isna().any() or (values.astype(str) == "").any():
            raise DataError(
                f"column '{column}' has empty values; every row needs one to split the data"
            )


def _group_labels(df: pd.DataFrame, group_col: str) -> pd.Series:
    """Each group's most frequent label (ties: the first in sorted order), indexed by sorted group."""
    counts = df[[group_col, "label"]].value_counts().reset_index(name="n")
    counts = counts.sort_values(["n", "label"], ascending=[False, True], kind="stable")
    return counts.drop_duplicates(group_col).set_index(group_col)["label"].sort_index()


def random_split(
    df: pd.DataFrame,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    *,
    stratify: bool = True,
    group_col: str = "group",
) -> pd.DataFrame:
    """Return a copy of ``df`` with ``split`` drawn at random, whole groups at a time.

    Within each label (a group counts under its majority label), the seeded shuffle of groups
    is cut where the cumulative row count crosses the fractions, so every class gets its share
    to within one group. sklearn has no stratified, group-aware shuffle split with exact
    fractions (StratifiedGroupKFold only gives 1/k folds), hence this small allocation.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or (fr < 0).any() or not np.isclose(fr.sum(), 1.0):
        raise DataError(
            f"split fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}"
        )
    _require(df, ["label", group_col])
    labels = _group_labels(df, group_col)
    sizes = df.groupby(group_col).size()
    bounds = np.cumsum(fr)
    rng = np.random.default_rng(seed)
    strata = labels.groupby(labels, sort=True) if stratify else [("", labels)]
    assigned: dict[object, str] = {}
    for _, members in strata:
        order = rng.permutation(members.index.to_numpy())
        size = sizes.loc[order].to_numpy()
        middle = (np.cumsum(size) - size / 2) / size.sum()
        which = np.minimum(np.searchsorted(bounds, middle, side="right"), len(SPLITS) - 1)
        assigned.update(zip(order, np.asarray(SPLITS)[which], strict=True))
    out = df.copy()
    out["split"] = df[group_col].map(assigned).astype(str)
    return out


def kfold(
    df: pd.DataFrame, k: int = 10, seed: int = 0, *, group_col: str = "group"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified group k-fold: ``k`` (train, test) pairs of positional row indices.

    Every row is in exactly one test fold and no group straddles train and test; with one
    row per group this is plain stratified k-fold.
    """
    _require(df, ["label", group_col])
    n_groups = df[group_col].nunique()
    if not 2 <= k <= n_groups:
        raise DataError(f"k-fold needs 2 <= k <= number of groups ({n_groups}), got k={k}")
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(df)), df["label"].to_numpy(), df[group_col].to_numpy()))


def gtzan_filtered_split(df: pd.DataFrame, *, id_col: str = "group") -> pd.DataFrame:
    """Return a copy of ``df`` with the artist-filtered GTZAN split of Kereliuk et al. (2015).

    Rows whose track id is in none of the lists (the faulty clips) get split ``''`` and so drop
    out of training and evaluation; their count is in ``out.attrs['excluded']``.
    """
    _require(df, [id_col])
    split = df[id_col].astype(str).map(gtzan_filtered_ids()).fillna("").astype(str)
    if not (split != "").any():
        raise DataError(
            f"no row of the dataset has a GTZAN track id (like blues.00029) in column '{id_col}'; "
            "the gtzan-filtered protocol only applies to GTZAN"
        )
    out = df.copy()
    out["split"] = split
    out.attrs["excluded"] = int((split == "").sum())
    log.info(
        "gtzan-filtered split: %d row(s) are in none of the lists and are left out",
        out.attrs["excluded"],
    )
    return out


def check_leakage(df: pd.DataFrame, group_col: str = "group") -> list[str]:
    """Groups that appear in more than one split (rows with no split are ignored)."""
    _require(df, ["split", group_col], filled=False)
    used = df[df["split"].isin(SPLITS)]
    n_splits = used.groupby(group_col)["split"].nunique()
    return sorted(map(str, n_splits.index[n_splits > 1]))


def apply_split(df: pd.DataFrame, protocol: str, seed: int = 0) -> pd.DataFrame:
    """Return a copy of ``df`` split by the named protocol, warning if any group leaks.

    ``random-A-B-C`` takes percentages for train, valid and test (``random-A-B``: train and
    test); ``gtzan-filtered`` is :func:`gtzan_filtered_split`; ``official`` keeps the
    dataset's own ``split`` column.
    """
    parsed = parse_protocol(protocol).require_single_split("splits are assigned")
    if parsed.kind == "random":
        out = random_split(df, parsed.fractions, seed)
    elif parsed.kind == "gtzan-filtered":
        out = gtzan_filtered_split(df)
    else:
        if "split" not in df.columns or not df["split"].isin(SPLITS).any():
            raise DataError(
                "this dataset has no official split; use random-80-10-10 or gtzan-filtered"
            )
        out = df.copy()
    if leaks := check_leakage(out):
        warnings.warn(
            f"{len(leaks)} group(s) appear in more than one split (e.g. {leaks[0]}); "
            "scores on this split will be optimistic",
            LeakageWarning,
            stacklevel=2,
        )
    return out
