"""Dataset loaders: layouts, the uniform table, skipped files and clear errors."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.data import (
    COLUMNS,
    feature_columns,
    gtzan_filtered_ids,
    load_dataset,
    load_feature_table,
    load_fma,
    load_folder,
    load_gtzan,
    load_manifest,
)
from genrelab.errors import DataError
from genrelab.features.reference import GTZAN_FEATURE_NAMES

CLIP = synth.tone(440.0, 0.05)


def _audio(path: Path) -> Path:
    """A 50 ms tone in the format the extension names (mp3 via PyAV, the rest via libsndfile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp3":
        with av.open(str(path), "w", format="mp3") as out:
            stream = out.add_stream("libmp3lame", rate=22050, layout="mono")
            frame = av.AudioFrame.from_ndarray(CLIP[None, :], format="fltp", layout="mono")
            frame.sample_rate = 22050
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
    else:
        sf.write(path, CLIP, 22050, format=path.suffix[1:].upper(), subtype="PCM_16")
    return path


def _empty(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def _check_uniform(df: pd.DataFrame) -> None:
    assert tuple(df.columns[:4]) == COLUMNS
    for column in COLUMNS:
        assert df[column].map(type).eq(str).all(), column
    assert df["label"].ne("").all() and df["group"].ne("").all()
    assert df["split"].isin(["train", "valid", "test", ""]).all()


# --- GTZAN -------------------------------------------------------------------------------

# blues.00000 is in the valid list, blues.00029 and hiphop.00002 in train, hiphop.00001 in none.
GTZAN_EXPECTED = {
    "blues.00000": "valid",
    "blues.00029": "train",
    "hiphop.00001": "",
    "hiphop.00002": "train",
}


def _gtzan_tree(genres_dir: Path, ext: str) -> Path:
    for track in GTZAN_EXPECTED:
        _audio(genres_dir / track.split(".")[0] / f"{track}{ext}")
    (genres_dir / "blues" / ".DS_Store").write_bytes(b"junk")
    (genres_dir / "blues" / "notes.txt").write_text("not audio")
    return _empty(genres_dir / "hiphop" / f"hiphop.00003{ext}")


@pytest.mark.parametrize(
    ("folder", "ext", "root_is_genres"),
    [
        ("genres", ".au", False),
        ("genres_original", ".wav", False),
        ("genres_original", ".wav", True),
        ("Data/genres_original", ".wav", False),
    ],
)
def test_gtzan_layouts(tmp_path: Path, folder: str, ext: str, root_is_genres: bool) -> None:
    genres_dir = tmp_path / folder
    empty = _gtzan_tree(genres_dir, ext)
    root = genres_dir if root_is_genres else tmp_path
    df = load_gtzan(root)
    _check_uniform(df)
    assert dict(zip(df["group"], df["split"], strict=True)) == GTZAN_EXPECTED
    assert (df["group"] == df["track_id"]).all()
    assert df["label"].tolist() == ["blues", "blues", "hiphop", "hiphop"]
    assert all(Path(p).is_absolute() and Path(p).suffix == ext for p in df["path"])
    assert df.attrs["skipped"] == [(str(empty), "empty file (0 bytes)")]
    pd.testing.assert_frame_equal(load_dataset(str(root)), df)


def test_gtzan_dev_folder(gtzan_dev: Path) -> None:
    df = load_dataset(f"gtzan:{gtzan_dev}")
    _check_uniform(df)
    assert len(df) == 30
    assert df["label"].value_counts().eq(3).all() and df["label"].nunique() == 10
    assert df["split"].tolist() == [gtzan_filtered_ids().get(t, "") for t in df["group"]]
    assert df["split"].value_counts().to_dict() == {"valid": 14, "train": 11, "test": 4, "": 1}
    assert all(Path(p).is_file() for p in df["path"])


def test_gtzan_rejects_other_layouts(tmp_path: Path) -> None:
    _audio(tmp_path / "rock" / "song.wav")
    with pytest.raises(DataError, match="does not look like GTZAN"):
        load_gtzan(tmp_path)


# --- generic folders ---------------------------------------------------------------------


def test_folder_tree(tmp_path: Path) -> None:
    _audio(tmp_path / "rock" / "a.wav")
    _audio(tmp_path / "rock" / "live" / "b.FLAC")
    _audio(tmp_path / "jazz" / "c.mp3")
    _audio(tmp_path / "jazz" / ".hidden.wav")
    _audio(tmp_path / "jazz" / ".cache" / "d.wav")
    _audio(tmp_path / ".trash" / "e.wav")
    (tmp_path / "jazz" / "readme.txt").write_text("liner notes")
    empty = _empty(tmp_path / "jazz" / "silent.ogg")
    df = load_folder(tmp_path)
    pd.testing.assert_frame_equal(load_dataset(tmp_path), df)
    _check_uniform(df)
    assert df["group"].tolist() == ["jazz/c", "rock/a", "rock/live/b"]
    assert df["label"].tolist() == ["jazz", "rock", "rock"]
    assert df["path"].tolist() == [
        str(tmp_path / g) + e for g, e in zip(df["group"], [".mp3", ".wav", ".FLAC"], strict=True)
    ]
    assert df["split"].eq("").all()
    assert df.attrs["skipped"] == [(str(empty), "empty file (0 bytes)")]


def test_folder_prefix_overrides_detection(tmp_path: Path) -> None:
    _gtzan_tree(tmp_path, ".wav")
    df = load_dataset(f"folder:{tmp_path}")
    assert df["group"].tolist()[0] == "blues/blues.00000"
    assert df["split"].eq("").all()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nonsense:/data", "no such file or folder.*NAME:PATH"),
        ("{tmp}/missing", "no such file or folder"),
        ("{tmp}/notes.txt", "unrecognised dataset"),
        ("{tmp}", "no usable items"),
        ("gtzan:", "names no path"),
    ],
)
def test_load_dataset_errors(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty_genre").mkdir()
    with pytest.raises(DataError, match=message):
        load_dataset(spec.format(tmp=tmp_path))


# --- manifests ---------------------------------------------------------------------------


def test_manifest(tmp_path: Path) -> None:
    a = _audio(tmp_path / "audio" / "a.wav")
    b = _audio(tmp_path / "elsewhere" / "b.flac")
    csv = tmp_path / "lists" / "items.csv"
    csv.parent.mkdir()
    csv.write_text(
        "path,label,group,split,note\n"
        "../audio/a.wav,rock,album1,training,x\n"
        f"{b},jazz,,validation,y\n"
        "../audio/gone.wav,jazz,album2,test,z\n"
    )
    df = load_dataset(csv)
    _check_uniform(df)
    assert df["path"].tolist() == [str(a), str(b)]
    assert df["group"].tolist() == ["album1", str(b)]
    assert df["split"].tolist() == ["train", "valid"]
    assert df["note"].tolist() == ["x", "y"]
    assert df.attrs["skipped"] == [(str(tmp_path / "audio" / "gone.wav"), "missing file")]
    assert load_dataset(f"manifest:{csv}").equals(df)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,genre\na.wav,rock\n", "lacks column.*path, label"),
        ("path,label\na.wav,rock\nb.wav,\n", r"row 2 \(line 3\): empty label"),
        ("path,label\n,rock\n", r"row 1 \(line 2\): empty path"),
        ("path,label,split\na.wav,rock,holdout\n", "row 1.*unknown split 'holdout'"),
        ("", "cannot read manifest"),
    ],
)
def test_manifest_errors(tmp_path: Path, text: str, message: str) -> None:
    _audio(tmp_path / "a.wav")
    csv = tmp_path / "m.csv"
    csv.write_text(text)
    with pytest.raises(DataError, match=message):
        load_manifest(csv)


def test_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="manifest not found"):
        load_manifest(tmp_path / "nope.csv")


# --- feature tables ----------------------------------------------------------------------


def test_real_feature_table(feature_table: Path) -> None:
    df = load_dataset(feature_table)
    _check_uniform(df)
    names = feature_columns(df)
    assert names == list(GTZAN_FEATURE_NAMES) and len(names) == 57
    assert all(df[c].dtype == np.float64 for c in names)
    assert (
        len(df) == 930 and df["label"].value_counts().eq(93).all() and df["label"].nunique() == 10
    )
    assert df["path"].eq("").all() and df["group"].is_unique
    assert df.loc[0, "group"] == "blues.00000" and df.loc[0, "chroma_stft_mean"] == pytest.approx(
        0.35008811950683594
    )
    assert df["split"].value_counts().to_dict() == {"train": 414, "test": 290, "valid": 162, "": 64}


def _segment_table(path: Path, tracks: list[str], segments: int = 10) -> Path:
    rng = np.random.default_rng(0)
    rows = [
        {
            "filename": f"{t}.{i}.wav",
            "length": 66149,
            **dict(zip(GTZAN_FEATURE_NAMES, rng.normal(size=57), strict=True)),
            "label": t.split(".")[0],
        }
        for t in tracks
        for i in range(segments)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_three_second_table_groups_segments(tmp_path: Path) -> None:
    csv = _segment_table(tmp_path / "features_3_sec.csv", list(GTZAN_EXPECTED))
    df = load_feature_table(csv)
    _check_uniform(df)
    assert len(df) == 40
    assert df.groupby("group").size().to_dict() == dict.fromkeys(GTZAN_EXPECTED, 10)
    assert df.groupby("group")["split"].first().to_dict() == GTZAN_EXPECTED
    assert df.loc[3, "filename"] == "blues.00000.3.wav"


def test_feature_table_errors(tmp_path: Path) -> None:
    csv = _segment_table(tmp_path / "f.csv", ["blues.00000"], segments=3)
    table = pd.read_csv(csv)
    table.loc[1, "tempo"] = np.nan
    table.to_csv(csv, index=False)
    with pytest.raises(DataError, match="line 3: missing or non-numeric"):
        load_feature_table(csv)
    table.drop(columns=["tempo"]).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"not a GTZAN feature table.*tempo"):
        load_feature_table(csv)
    with pytest.raises(DataError, match="not a GTZAN feature table"):
        feature_columns(pd.DataFrame({"label": ["rock"]}))


# --- FMA ---------------------------------------------------------------------------------

# track id: (artist, split, subset, genre_top, file) where file is "ok", "empty", "missing" or
# "junk" (a non-empty file the metadata says is audio-less)
FMA_TRACKS = {
    2: (1, "training", "small", "Hip-Hop", "ok"),
    3: (1, "training", "small", "Hip-Hop", "ok"),
    140: (2, "validation", "small", "Folk", "ok"),
    141: (3, "test", "small", "Folk", "empty"),
    99134: (4, "training", "small", "Rock", "junk"),
    1000: (5, "test", "medium", "Rock", "ok"),
    1001: (6, "training", "medium", None, "ok"),
    1002: (7, "training", "medium", "Pop", "missing"),
    2000: (8, "validation", "large", "Pop", "ok"),
}


@pytest.fixture(scope="module")
def fma_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FMA's layout: tracks.csv with its two header rows, and nested fma_<size>/NNN/NNNNNN.mp3."""
    root = tmp_path_factory.mktemp("fma")
    columns = pd.MultiIndex.from_tuples(
        [
            ("artist", "id"),
            ("set", "split"),
            ("set", "subset"),
            ("track", "genre_top"),
            ("track", "title"),
        ]
    )
    tracks = pd.DataFrame(
        [(a, sp, su, g, f"title {t}") for t, (a, sp, su, g, _) in FMA_TRACKS.items()],
        index=pd.Index(list(FMA_TRACKS), name="track_id"),
        columns=columns,
    )
    (root / "fma_metadata").mkdir()
    tracks.to_csv(root / "fma_metadata" / "tracks.csv")
    for size in ("small", "medium", "large"):
        members = ("small", "medium", "large")[: ("small", "medium", "large").index(size) + 1]
        for track, (_, _, subset, _, kind) in FMA_TRACKS.items():
            path = root / f"fma_{size}" / f"{track:06d}"[:3] / f"{track:06d}.mp3"
            if subset not in members or kind == "missing":
                continue
            if kind == "ok":
                _audio(path)
            elif kind == "junk":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"ID3")
            else:
                _empty(path)
    return root


@pytest.mark.parametrize(
    ("subset", "tracks"),
    [
        ("small", ["000002", "000003", "000140"]),
        ("medium", ["000002", "000003", "000140", "001000"]),
        ("large", ["000002", "000003", "000140", "001000", "002000"]),
    ],
)
def test_fma_nested_subsets(fma_root: Path, subset: str, tracks: list[str]) -> None:
    df = load_fma(fma_root, subset)
    _check_uniform(df)
    assert df["track_id"].tolist() == tracks
    info = {t: FMA_TRACKS[int(t)] for t in tracks}
    assert df["label"].tolist() == [v[3] for v in info.values()]
    assert df["group"].tolist() == [f"artist.{v[0]}" for v in info.values()]
    split = {"training": "train", "validation": "valid", "test": "test"}
    assert df["split"].tolist() == [split[v[1]] for v in info.values()]
    assert df["path"].tolist() == [
        str(fma_root / f"fma_{subset}" / t[:3] / f"{t}.mp3") for t in tracks
    ]
    with av.open(df["path"].iloc[0]) as container:
        assert container.streams.audio[0].codec_context.name.startswith("mp3")
    reasons = {Path(p).stem: r for p, r in df.attrs["skipped"]}
    assert reasons["000141"] == "empty file (0 bytes)"
    assert reasons["099134"].startswith("known to hold no audio")
    if subset != "small":
        assert reasons["001002"] == "missing file"
    assert len(reasons) == (2 if subset == "small" else 3)
    assert df.attrs["unlabeled"] == (0 if subset == "small" else 1)  # track 1001


def test_fma_dispatch(fma_root: Path, tmp_path: Path) -> None:
    assert load_dataset(fma_root / "fma_small")["track_id"].tolist() == [
        "000002",
        "000003",
        "000140",
    ]
    assert len(load_dataset(f"fma-medium:{fma_root}")) == 4
    with pytest.raises(DataError, match=r"name the subset, e\.g\. fma-small:"):
        load_dataset(fma_root)
    moved = tmp_path / "meta.csv"
    moved.write_bytes((fma_root / "fma_metadata" / "tracks.csv").read_bytes())
    assert len(load_fma(fma_root / "fma_large", "large", metadata=moved)) == 5
    with pytest.raises(DataError, match="unknown FMA subset 'tiny'"):
        load_fma(fma_root, "tiny")
    with pytest.raises(DataError, match="FMA metadata not found"):
        load_fma(fma_root, "small", metadata=tmp_path / "none.csv")
