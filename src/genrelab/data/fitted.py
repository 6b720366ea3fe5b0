"""What a model was fitted on, so that scores on those recordings are not taken for results.

Every bundle's card lists the ids of its training recordings under ``training.fitted_ids``:
``blues.00000`` for a GTZAN-named file or feature-table row (the table row and the audio clip
of one recording share the id, so a model fitted on the table also knows its clips), and
``sha1:<hex>`` of the file's bytes for any other file. ``evaluate`` and ``ensemble`` then
leave those rows out. A card without the key (older bundles) is "unknown": callers warn.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrelab.data.datasets import GTZAN_GENRES

if TYPE_CHECKING:
    import pandas as pd

#: The card key, inside ``training``.
FITTED_KEY = "fitted_ids"

_GTZAN_NAME = re.compile(r"(?P<genre>[a-z]+)\.(?P<number>\d{5})(?:\.\d+)?(?:\.[A-Za-z0-9]+)?")


def gtzan_id(name: str) -> str | None:
    """``blues.00000`` from ``blues.00000.wav``, ``blues.00000.3.wav`` or ``blues.00000``."""
    match = _GTZAN_NAME.fullmatch(Path(name).name)
    if match is None or match["genre"] not in GTZAN_GENRES:
        return None
    return f"{match['genre']}.{match['number']}"


@cache
def _content_id(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as fh:
        return "sha1:" + hashlib.file_digest(fh, "sha1").hexdigest()


def file_id(path: str | Path) -> str:
    """A recording's id: its GTZAN name, else the SHA-1 of its bytes (so copies match)."""
    if named := gtzan_id(str(path)):
        return named
    stat = Path(path).stat()
    return _content_id(str(path), stat.st_size, stat.st_mtime_ns)


def row_ids(df: pd.DataFrame) -> list[str]:
    """One id per dataset row: a file's :func:`file_id`, a feature-table row's track id."""

    def column(name: str) -> list[str]:
        return df[name].fillna("").astype(str).tolist() if name in df else [""] * len(df)

    ids = []
    for path, track, group in zip(column("path"), column("track_id"), column("group"), strict=True):
        if path:
            ids.append(file_id(path))
        else:
            ids.append(gtzan_id(track or group) or track or group)
    return ids


def fitted_ids(training: Mapping[str, Any]) -> set[str] | None:
    """The ids a card's ``training`` lists; ``None`` when it does not say (unknown)."""
    ids = training.get(FITTED_KEY)
    return None if ids is None else set(map(str, ids))


def record(ids: Iterable[str]) -> list[str]:
    """The card's value: sorted and without repeats (windows of one track share an id)."""
    return sorted(set(ids))


def seen_mask(training: Mapping[str, Any], ids: list[str]) -> np.ndarray | None:
    """Which of ``ids`` the model was fitted on; ``None`` when its card does not say."""
    known = fitted_ids(training)
    if known is None:
        return None
    return np.array([i in known for i in ids], dtype=bool)


def drop_seen(
    df: pd.DataFrame, training: Mapping[str, Any], include_seen: bool = False
) -> tuple[pd.DataFrame, int | None, str | None]:
    """The rows to score, how many the model saw (``None``: unknown) and a note to print.

    Rows the model was fitted on are left out unless ``include_seen``; a card that does not
    list its ids keeps every row with a warning. Only seen rows left is a DataError.
    """
    from genrelab.errors import DataError

    seen = seen_mask(training, row_ids(df))
    if seen is None:
        return (
            df,
            None,
            (
                "warning: the model's card does not list what it was fitted on "
                f"(training.{FITTED_KEY}), so these scores may include its training data"
            ),
        )
    count = int(seen.sum())
    if not count:
        return df, 0, None
    if include_seen:
        return (
            df,
            count,
            (
                f"warning: {count} of {len(df)} rows were used to fit the model (--include-seen): "
                "these scores are not held-out results"
            ),
        )
    if count == len(df):
        raise DataError(
            f"all {count} rows were used to fit the model, so none is left to score "
            "(--include-seen scores them anyway)"
        )
    return (
        df[~seen],
        count,
        f"skipped {count} rows the model was fitted on (--include-seen to score them)",
    )
