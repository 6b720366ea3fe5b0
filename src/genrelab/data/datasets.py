"""Dataset loaders: every source becomes one uniform table of items.

Each loader returns a :class:`pandas.DataFrame` with the columns ``path`` (absolute; ``''`` for
feature-table rows), ``label``, ``group`` (items of one group, e.g. the windows of one track or
the tracks of one artist, must stay in one split) and ``split`` (``train``/``valid``/``test``,
or ``''`` where the source has none), then any extra columns of the source.

Audio files that are missing or empty (0 bytes), and items a source marks as unusable, are
left out and listed as ``(path, reason)`` pairs in ``df.attrs['skipped']``; corrupt but
non-empty files are left for the audio decoder to report. A loader that finds nothing usable
raises :class:`~genrelab.errors.DataError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from genrelab.audio.io import AUDIO_EXTENSIONS
from genrelab.data.splits import SPLITS, gtzan_filtered_ids
from genrelab.errors import DataError
from genrelab.features.columns import GTZAN_FEATURE_NAMES

#: The columns every loader returns first, in this order.
COLUMNS: tuple[str, ...] = ("path", "label", "group", "split")

#: File name extensions treated as audio (lower case).
GTZAN_GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)  # fmt: skip

#: FMA subsets, smallest first; each contains the ones before it.
FMA_SUBSETS: tuple[str, ...] = ("small", "medium", "large")

#: fma_small tracks whose files hold no audio at all (github.com/mdeff/fma issues 41 and 44).
FMA_NO_AUDIO = frozenset({99134, 108925, 133297})

_SPLIT_NAMES = {
    "": "", "train": "train", "training": "train", "valid": "valid", "validation": "valid",
    "val": "valid", "dev": "valid", "test": "test",
}  # fmt: skip
_GTZAN_CLIP = re.compile(r"(?P<genre>[a-z]+)\.(?P<number>\d{5})\.(?:wav|au)")
_SEGMENT = re.compile(r"(?P<track>[^.]+\.\d+)\.\d+")
_FMA_COLUMNS = {
    "label": ("track", "genre_top"),
    "subset": ("set", "subset"),
    "split": ("set", "split"),
}

Skipped = list[tuple[str, str]]


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be an audio item, or ``None`` if it is a non-empty file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing file"
    except OSError as err:
        return f"unreadable file ({err.strerror})"
    if not path.is_file():
        return "not a regular file"
    return "empty file (0 bytes)" if size == 0 else None


def _frame(rows: list[dict[str, object]], skipped: Skipped, source: str) -> pd.DataFrame:
    if not rows:
        reason = (
            f"; {len(skipped)} skipped, e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        )
        raise DataError(f"no usable items in {source}{reason}")
    df = pd.DataFrame(rows)
    df = df[[*COLUMNS, *(c for c in df.columns if c not in COLUMNS)]]
    df.attrs["skipped"] = skipped
    return df


def _split_name(value: str, where: str) -> str:
    try:
        return _SPLIT_NAMES[value.strip().lower()]
    except KeyError:
        raise DataError(f"{where}: unknown split '{value}' (use train, valid or test)") from None


def find_gtzan_dir(root: str | os.PathLike[str]) -> Path | None:
    """The folder holding ``<genre>/<genre>.NNNNN.wav|au`` at or just under ``root``, if any.

    Covers the original ``genres/``, the Kaggle ``genres_original/`` (also under ``Data/``)
    and a root that is itself the genres folder.
    """
    root = _absolute(root)
    for folder in (
        root,
        root / "genres_original",
        root / "genres",
        root / "Data" / "genres_original",
    ):
        for genre in GTZAN_GENRES:
            if any(_GTZAN_CLIP.fullmatch(p.name) for p in folder.glob(f"{genre}/{genre}.?????.*")):
                return folder
    return None


def load_gtzan(root: str | os.PathLike[str]) -> pd.DataFrame:
    """GTZAN clips; ``split`` comes from the artist-filtered lists (``''`` for unlisted clips)."""
    folder = find_gtzan_dir(root)
    if folder is None:
        raise DataError(
            f"{root} does not look like GTZAN: expected <genre>/<genre>.00000.wav (or .au) in it, "
            "in genres_original/ or in genres/"
        )
    filtered = gtzan_filtered_ids()
    rows: list[dict[str, object]] = []
    skipped: Skipped = []
    for genre in GTZAN_GENRES:
        for path in sorted((folder / genre).glob(f"{genre}.?????.*")):
            if (match := _GTZAN_CLIP.fullmatch(path.name)) is None or match["genre"] != genre:
                continue
            if problem := _file_problem(path):
                skipped.append((str(path), problem))
                continue
            track = f"{genre}.{match['number']}"
            split = filtered.get(track, "")
            rows.append(
                {
                    "path": str(path),
                    "label": genre,
                    "group": track,
                    "split": split,
                    "track_id": track,
                }
            )
    return _frame(rows, skipped, str(folder))


def load_folder(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Audio files in a folder-per-genre tree: label = top folder, group = relative path sans extension.

    Files are found recursively inside each genre folder; hidden files and folders are ignored.
    """
    root = _absolute(root)
    if not root.is_dir():
        raise DataError(f"not a folder: {root}")
    rows: list[dict[str, object]] = []
    skipped: Skipped = []
    for genre_dir in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        for path in sorted(genre_dir.rglob("*")):
            relative = path.relative_to(root)
            if path.suffix.lower() not in AUDIO_EXTENSIONS or path.is_dir():
                continue
            if any(part.startswith(".") for part in relative.parts):
                continue
            if problem := _file_problem(path):
                skipped.append((str(path), problem))
                continue
            group = relative.with_suffix("").as_posix()
            rows.append({"path": str(path), "label": genre_dir.name, "group": group, "split": ""})
    return _frame(rows, skipped, f"{root} (expected one folder of audio files per genre)")


def _read_csv(path: Path, what: str, **kwargs: object) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except FileNotFoundError:
        raise DataError(f"{what} not found: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"cannot read {what} {path}: {str(err).splitlines()[0]}") from None


def load_manifest(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Items listed in a CSV with columns ``path,label`` and optional ``group``, ``split``.

    Relative paths are resolved against the CSV's folder; without ``group`` each file is its
    own group. Other columns are kept.
    """
    csv_path = _absolute(csv_path)
    table = _read_csv(csv_path, "manifest", dtype=str, keep_default_na=False)
    table.columns = [str(c).strip() for c in table.columns]
    if missing := [c for c in ("path", "label") if c not in table.columns]:
        raise DataError(
            f"manifest {csv_path} lacks column(s) {', '.join(missing)}: it needs path,label "
            f"(optional group, split); found {', '.join(table.columns)}"
        )
    table = table.map(str.strip)
    for column in ("path", "label"):
        if (empty := np.flatnonzero(table[column] == "")).size:
            row = int(empty[0])
            raise DataError(f"manifest {csv_path}, row {row + 1} (line {row + 2}): empty {column}")
    rows: list[dict[str, object]] = []
    skipped: Skipped = []
    for row, item in enumerate(table.to_dict("records")):
        split = _split_name(
            item.get("split", ""), f"manifest {csv_path}, row {row + 1} (line {row + 2})"
        )
        path = _absolute(csv_path.parent / Path(item["path"]).expanduser())
        if problem := _file_problem(path):
            skipped.append((str(path), problem))
            continue
        rows.append(
            {**item, "path": str(path), "group": item.get("group") or str(path), "split": split}
        )
    return _frame(rows, skipped, f"manifest {csv_path}")


def _track_of(filename: str) -> str:
    """``blues.00000.wav`` and its 3-second segment ``blues.00000.3.wav`` -> ``blues.00000``."""
    stem = Path(filename)
    name = stem.stem if stem.suffix.lower() in AUDIO_EXTENSIONS else stem.name
    return match["track"] if (match := _SEGMENT.fullmatch(name)) else name


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The 57 Kaggle GTZAN feature columns, in table order: ``df[feature_columns(df)]`` is X."""
    if missing := [c for c in GTZAN_FEATURE_NAMES if c not in df.columns]:
        raise DataError(
            f"not a GTZAN feature table: {len(missing)} feature column(s) missing, e.g. {missing[0]}"
        )
    return list(GTZAN_FEATURE_NAMES)


def load_feature_table(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The Kaggle GTZAN feature table (30-second or 3-second), features kept as columns.

    ``group`` is the track id, so the 3-second segments of one track share it and never cross
    splits; ``split`` comes from the artist-filtered lists.
    """
    csv_path = _absolute(csv_path)
    table = _read_csv(csv_path, "feature table")
    if table.empty:
        raise DataError(f"no usable items in feature table {csv_path}: it has no rows")
    if missing := [
        c for c in ("filename", "label", *GTZAN_FEATURE_NAMES) if c not in table.columns
    ]:
        raise DataError(
            f"{csv_path} is not a GTZAN feature table: {len(missing)} column(s) missing, e.g. {missing[0]}"
        )
    features = table[list(GTZAN_FEATURE_NAMES)].apply(pd.to_numeric, errors="coerce")
    if (bad := np.flatnonzero(~np.isfinite(features.to_numpy(dtype=float)).all(axis=1))).size:
        raise DataError(f"{csv_path}, line {bad[0] + 2}: missing or non-numeric feature value")
    labels = table["label"].astype("string").str.strip().fillna("")
    if (empty := np.flatnonzero(labels == "")).size:
        raise DataError(f"{csv_path}, line {empty[0] + 2}: empty label")
    groups = table["filename"].astype(str).map(_track_of)
    own = {*COLUMNS, "track_id", *GTZAN_FEATURE_NAMES}
    extras = table.drop(columns=[c for c in table.columns if c in own])
    df = pd.concat(
        [
            pd.DataFrame(
                {
                    "path": "",
                    "label": labels.astype(str),
                    "group": groups,
                    "split": groups.map(gtzan_filtered_ids()).fillna("").astype(str),
                    "track_id": groups,
                }
            ),
            extras,
            features,
        ],
        axis=1,
    )
    df.attrs["skipped"] = []
    return df


def load_fma(
    root: str | os.PathLike[str],
    subset: str = "small",
    metadata: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """FMA tracks of ``subset`` (which includes the smaller subsets) with their official split.

    ``root`` holds ``fma_metadata/tracks.csv`` and ``fma_<subset>/NNN/NNNNNN.mp3`` (or is the
    ``fma_<subset>`` folder itself); ``metadata`` overrides where ``tracks.csv`` (or its folder)
    is. ``group`` is the artist (the track where unknown), as the official split keeps artists
    apart. Known audio-less tracks and missing or empty files are listed in ``attrs['skipped']``;
    tracks without a top genre (most of medium and large) are dropped and only counted, in
    ``attrs['unlabeled']``, as pandas copies ``attrs`` on every operation.
    """
    if subset not in FMA_SUBSETS:
        raise DataError(f"unknown FMA subset '{subset}'; use one of {', '.join(FMA_SUBSETS)}")
    root = _absolute(root)
    if root.name == f"fma_{subset}" and not (root / f"fma_{subset}").is_dir():
        root = root.parent
    audio_dir = root / f"fma_{subset}"
    meta = _absolute(metadata) if metadata is not None else root / "fma_metadata"
    if meta.is_dir():
        meta = meta / "tracks.csv"
    if not audio_dir.is_dir():
        raise DataError(f"FMA audio folder not found: {audio_dir}")
    tracks = _read_csv(meta, "FMA metadata", header=[0, 1], index_col=0)
    if missing := [".".join(c) for c in _FMA_COLUMNS.values() if c not in tracks.columns]:
        raise DataError(f"{meta} is not FMA tracks.csv: column(s) {', '.join(missing)} missing")
    tracks = tracks[
        tracks[_FMA_COLUMNS["subset"]].isin(FMA_SUBSETS[: FMA_SUBSETS.index(subset) + 1])
    ]
    labelled = tracks[_FMA_COLUMNS["label"]].fillna("").astype(str).str.strip() != ""
    tracks = tracks[labelled]
    has_artist = ("artist", "id") in tracks.columns
    artists = tracks[("artist", "id")] if has_artist else pd.Series(np.nan, index=tracks.index)
    rows: list[dict[str, object]] = []
    skipped: Skipped = []
    for track, label, split, artist in zip(
        tracks.index,
        tracks[_FMA_COLUMNS["label"]],
        tracks[_FMA_COLUMNS["split"]].fillna("").astype(str),
        artists,
        strict=True,
    ):
        track_id = f"{int(track):06d}"
        path = audio_dir / track_id[:3] / f"{track_id}.mp3"
        if int(track) in FMA_NO_AUDIO:
            problem: str | None = "known to hold no audio (FMA issue #41)"
        else:
            problem = _file_problem(path)
        if problem:
            skipped.append((str(path), problem))
            continue
        rows.append(
            {
                "path": str(path),
                "label": str(label),
                "group": track_id if pd.isna(artist) else f"artist.{int(artist)}",
                "split": _split_name(split, f"{meta}, track {track_id}"),
                "track_id": track_id,
            }
        )
    df = _frame(rows, skipped, f"FMA {subset} at {root}")
    df.attrs["unlabeled"] = int((~labelled).sum())
    return df


_FMA_SPEC = {f"fma-{size}": partial(load_fma, subset=size) for size in FMA_SUBSETS}
_LOADERS: dict[str, Callable[[str], pd.DataFrame]] = {
    "gtzan": load_gtzan,
    **_FMA_SPEC,
    "folder": load_folder,
    "manifest": load_manifest,
    "features": load_feature_table,
}
ACCEPTED = (
    "a dataset folder (GTZAN, FMA, or one folder per genre), a .csv (GTZAN feature table or "
    f"manifest with path,label columns), or NAME:PATH with NAME one of {', '.join(_LOADERS)}"
)


def _load_dir(path: Path) -> pd.DataFrame:
    if find_gtzan_dir(path) is not None:
        return load_gtzan(path)
    fma_root = path.parent if path.name.startswith("fma_") else path
    if (fma_root / "fma_metadata" / "tracks.csv").is_file():
        if path == fma_root:
            sizes = [s for s in FMA_SUBSETS if (path / f"fma_{s}").is_dir()]
        else:
            sizes = [s for s in FMA_SUBSETS if path.name == f"fma_{s}"]
        if len(sizes) != 1:
            found = ", ".join(f"fma_{s}" for s in sizes) or "no fma_small/medium/large folder"
            raise DataError(
                f"FMA at {fma_root}: {found}; name the subset, e.g. fma-small:{fma_root}"
            )
        return load_fma(fma_root, sizes[0])
    return load_folder(path)


def load_dataset(spec: str | os.PathLike[str]) -> pd.DataFrame:
    """Load a dataset from a path or ``NAME:PATH`` spec; see :data:`ACCEPTED`."""
    text = os.fspath(spec).strip()
    name, colon, rest = text.partition(":")
    if colon and name.strip().lower() in _LOADERS:
        if not rest.strip():
            raise DataError(f"'{text}' names no path; use {name}:/path/to/data")
        return _LOADERS[name.strip().lower()](rest.strip())
    path = _absolute(text)
    if path.is_dir():
        return _load_dir(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        header = _read_csv(path, "CSV file", nrows=0).columns
        if {"filename", "label", *GTZAN_FEATURE_NAMES} <= set(header):
            return load_feature_table(path)
        return load_manifest(path)
    problem = "no such file or folder" if not path.exists() else "unrecognised dataset"
    raise DataError(f"{problem}: '{text}'; expected {ACCEPTED}")


__all__ = [
    "ACCEPTED",
    "AUDIO_EXTENSIONS",
    "COLUMNS",
    "FMA_NO_AUDIO",
    "FMA_SUBSETS",
    "GTZAN_GENRES",
    "SPLITS",
    "feature_columns",
    "find_gtzan_dir",
    "load_dataset",
    "load_feature_table",
    "load_fma",
    "load_folder",
    "load_gtzan",
    "load_manifest",
]
