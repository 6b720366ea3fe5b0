"""Split protocols: exact stratified fractions, whole groups, k-fold coverage, leakage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genrelab.data import (
    SPLITS,
    LeakageWarning,
    apply_split,
    check_leakage,
    gtzan_filtered_ids,
    gtzan_filtered_split,
    kfold,
    random_split,
)
from genrelab.errors import DataError

CLASS_SIZES = {"rock": 37, "jazz": 23, "pop": 11}


@pytest.fixture
def items() -> pd.DataFrame:
    """Unbalanced classes, one row per group."""
    labels = [label for label, n in CLASS_SIZES.items() for _ in range(n)]
    return pd.DataFrame(
        {"path": "", "label": labels, "group": [f"t{i}" for i in range(len(labels))], "split": ""}
    )


@pytest.fixture
def grouped() -> pd.DataFrame:
    """Groups of 1 to 8 rows (tracks cut into windows, artists with several tracks), one label each."""
    rng = np.random.default_rng(3)
    rows = [
        {"label": label, "group": f"{label}-{g}", "window": w}
        for label, n_groups in CLASS_SIZES.items()
        for g in range(n_groups)
        for w in range(rng.integers(1, 9))
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.7, 0.0, 0.3)])
def test_random_split_stratified_fractions(
    items: pd.DataFrame, seed: int, fractions: tuple[float, ...]
) -> None:
    out = random_split(items, fractions, seed)
    assert out["split"].isin(SPLITS).all()
    counts = out.groupby(["label", "split"]).size()
    for label, n in CLASS_SIZES.items():
        for split, fraction in zip(SPLITS, fractions, strict=True):
            assert abs(counts.get((label, split), 0) - fraction * n) <= 1, (label, split)
    assert items["split"].eq("").all()  # the input is left alone


def test_random_split_unstratified(items: pd.DataFrame) -> None:
    counts = random_split(items, (0.5, 0.25, 0.25), 0, stratify=False)["split"].value_counts()
    assert abs(counts["train"] - 35.5) <= 1 and abs(counts["valid"] - 17.75) <= 1


def test_random_split_seeded(items: pd.DataFrame) -> None:
    first = random_split(items, seed=5)
    assert first["split"].equals(random_split(items, seed=5)["split"])
    assert not first["split"].equals(random_split(items, seed=6)["split"])
    shuffled = random_split(items.sample(frac=1, random_state=0), seed=5)
    assert shuffled["split"].sort_index().equals(first["split"])


def test_random_split_keeps_groups_whole(grouped: pd.DataFrame) -> None:
    for seed in range(8):
        out = random_split(grouped, (0.6, 0.2, 0.2), seed)
        assert out.groupby("group")["split"].nunique().eq(1).all()
        assert check_leakage(out) == []
        share = out["split"].value_counts(normalize=True)
        assert share["train"] == pytest.approx(0.6, abs=0.08)
        assert (out.groupby("label")["split"].nunique() == 3).all()


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.3, 0.1), (1.2, -0.1, -0.1)])
def test_random_split_bad_fractions(items: pd.DataFrame, fractions: tuple[float, ...]) -> None:
    with pytest.raises(DataError, match="fractions"):
        random_split(items, fractions)


def test_random_split_needs_groups(items: pd.DataFrame) -> None:
    items.loc[3, "group"] = ""
    with pytest.raises(DataError, match="'group' has empty values"):
        random_split(items)
    with pytest.raises(DataError, match=r"lacks column.*artist"):
        random_split(items, group_col="artist")


@pytest.mark.parametrize("k", [3, 10])
def test_kfold_covers_every_row_once(items: pd.DataFrame, k: int) -> None:
    folds = kfold(items, k=k, seed=2)
    assert len(folds) == k
    tests = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tests), np.arange(len(items)))
    for train, test in folds:
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(items)))
        per_class = items["label"].iloc[test].value_counts()
        for label, n in CLASS_SIZES.items():
            assert abs(per_class.get(label, 0) - n / k) <= 1


def test_kfold_groups_and_seed(grouped: pd.DataFrame) -> None:
    folds = kfold(grouped, k=5, seed=0)
    for train, test in folds:
        assert not set(grouped["group"].iloc[train]) & set(grouped["group"].iloc[test])
    assert all(
        np.array_equal(a[1], b[1]) for a, b in zip(folds, kfold(grouped, k=5, seed=0), strict=True)
    )
    assert not all(
        np.array_equal(a[1], b[1]) for a, b in zip(folds, kfold(grouped, k=5, seed=1), strict=True)
    )
    with pytest.raises(DataError, match="2 <= k"):
        kfold(grouped, k=1)


def test_filtered_lists_shipped() -> None:
    ids = gtzan_filtered_ids()
    assert pd.Series(ids).value_counts().to_dict() == {"train": 443, "test": 290, "valid": 197}
    assert (
        ids["blues.00029"] == "train" and ids["blues.00012"] == "test" and "hiphop.00001" not in ids
    )


def test_filtered_lists_match_shared(shared_data: Path) -> None:
    for split in SPLITS:
        shared = (shared_data / "gtzan-splits" / f"{split}_filtered.txt").read_text().split()
        assert sorted(t for t, s in gtzan_filtered_ids().items() if s == split) == sorted(shared)


def test_gtzan_filtered_split() -> None:
    df = pd.DataFrame(
        {"label": "blues", "group": ["blues.00029", "blues.00012", "blues.00000", "hiphop.00001"]}
    )
    out = apply_split(df, "gtzan-filtered")
    assert out["split"].tolist() == ["train", "test", "valid", ""]
    assert out.attrs["excluded"] == 1
    with pytest.raises(DataError, match="only applies to GTZAN"):
        gtzan_filtered_split(pd.DataFrame({"label": ["rock"], "group": ["artist.1"]}))


def test_apply_split_protocols(items: pd.DataFrame) -> None:
    assert apply_split(items, "random-80-10-10", seed=3).equals(
        random_split(items, (0.8, 0.1, 0.1), 3)
    )
    two_way = apply_split(items, "Random-70-30")
    assert set(two_way["split"]) == {"train", "test"}
    official = items.assign(split=["train"] * 60 + ["test"] * 11)
    assert apply_split(official, "official")["split"].equals(official["split"])
    with pytest.raises(DataError, match="sum to 100"):
        apply_split(items, "random-50-30-30")
    with pytest.raises(DataError, match="no official split"):
        apply_split(items, "official")
    with pytest.raises(DataError, match=r"unknown protocol 'cv'.*gtzan-filtered"):
        apply_split(items, "cv")


def test_leakage_detected_and_warned() -> None:
    df = pd.DataFrame(
        {
            "label": "rock",
            "group": ["a", "a", "b", "b", "c", "c"],
            "split": ["train", "test", "train", "train", "valid", ""],
        }
    )
    assert check_leakage(df) == ["a"]
    with pytest.warns(LeakageWarning, match="1 group"):
        apply_split(df, "official")
