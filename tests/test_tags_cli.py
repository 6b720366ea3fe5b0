"""``genrelab tags`` and ``genrelab embed``, the tagging API, and torch-free start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.audio import load
from genrelab.cli import main
from genrelab.errors import ModelError
from genrelab.pretrained.musicnn_onnx import tag_names
from genrelab.pretrained.tagging import PATCH_S, tag_signal, tagger, top_tags

pytest.importorskip("onnxruntime")


def run(argv: list, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten seconds of synthetic rock: three musicnn patches."""
    path = tmp_path_factory.mktemp("tags") / "song.wav"
    sf.write(path, synth.song(10.0, style="rock", seed=5), 22050, subtype="PCM_16")
    return path


def test_json_has_a_timeline_and_whole_track_tags(song: Path, capsys) -> None:
    code, out, err = run(["tags", song, "--json", "--top", "3", "--segment", "6"], capsys)
    assert code == 0 and err == ""
    (report,) = json.loads(out)
    assert report["path"] == str(song) and report["model"] == "MSD_musicnn"
    y, sr = load(song, sr=16000)
    assert [tuple(t) for t in report["tags"]] == top_tags(y, sr, k=3)
    scores = [s for _, s in report["tags"]]
    assert scores == sorted(scores, reverse=True)
    # 6 s segments are two whole patches: patches 0-1, then the last patch alone
    assert [(s["start"], s["end"]) for s in report["segments"]] == [
        (0.0, round(2 * PATCH_S, 3)),
        (round(2 * PATCH_S, 3), round(3 * PATCH_S, 3)),
    ]
    assert all(len(s["tags"]) == 3 for s in report["segments"])


def test_segments_average_their_patches() -> None:
    y = synth.song(10.0, sr=16000, style="disco", seed=2)
    per_patch = tag_signal(y, 16000, k=50, segment_s=3.0)
    pairs = tag_signal(y, 16000, k=50, segment_s=6.0)
    assert len(per_patch.segments) == 3 and len(pairs.segments) == 2
    first = [dict(s.tags) for s in per_patch.segments[:2]]
    merged = dict(pairs.segments[0].tags)
    for tag in merged:
        assert merged[tag] == pytest.approx((first[0][tag] + first[1][tag]) / 2, abs=2e-4)


def test_mtt_table_output(song: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(["tags", song, "--model", "MTT_musicnn", "--top", "2"], capsys)
    assert code == 0 and "whole track" in out and "song.wav (MTT_musicnn)" in out
    whole = out.split("whole track")[1].splitlines()[0]
    assert any(name in whole for name in tag_names("MTT_musicnn"))


def test_bad_files_are_reported_and_skipped(song: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF" + b"\x00" * 40)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(22050), 22050)
    missing = tmp_path / "missing.wav"
    code, out, err = run(["tags", song, broken, short, missing, "--json"], capsys)
    assert code == 0
    results = json.loads(out)
    assert [r["path"] for r in results if "error" in r] == [str(missing), str(broken), str(short)]
    assert "3 s" in next(r["error"] for r in results if r["path"] == str(short))
    lines = [line for line in err.splitlines() if line.startswith("genrelab:")]
    assert len(lines) == 3
    code, _, _ = run(["tags", broken, missing], capsys)
    assert code == 1


def test_top_tags_api() -> None:
    y = synth.song(4.0, style="classical", seed=0)
    tags = top_tags(y, 22050, k=5)
    assert len(tags) == 5 and all(name in tag_names("MSD_musicnn") for name, _ in tags)
    assert [s for _, s in tags] == sorted((s for _, s in tags), reverse=True)
    with pytest.raises(ModelError):
        top_tags(y, 22050, k=0)
    long = synth.song(12.0, sr=16000, style="rock", seed=0)  # four patches
    taggram = tagger("MSD_musicnn").tags(long, 16000)[0]
    expected = taggram[[1, 3]].mean(0)  # the middles of two halves
    best = dict(top_tags(long, 16000, k=50, max_patches=2))
    assert all(
        best[t] == pytest.approx(float(expected[i]), abs=1e-4)
        for i, t in enumerate(tag_names("MSD_musicnn"))
    )


def test_embed_writes_cached_embeddings(tmp_path: Path, capsys) -> None:
    for genre, style in (("rock", "rock"), ("classical", "classical")):
        (tmp_path / "data" / genre).mkdir(parents=True)
        y = synth.song(3.5, style=style, seed=1)
        sf.write(tmp_path / "data" / genre / "a.wav", y, 22050)
    argv = ["embed", "--data", tmp_path / "data", "--backbone", "musicnn-mtt"]
    argv += ["--layer", "penultimate", "--tags", "--window", "3", "--cache-dir", tmp_path / "c"]
    code, out, _ = run([*argv, "--out", tmp_path / "emb.npz"], capsys)
    assert code == 0 and "2 tracks, 2 windows x 250 values" in out
    saved = np.load(tmp_path / "emb.npz")
    assert saved["X"].shape == (2, 250) and sorted(saved["labels"]) == ["classical", "rock"]
    assert json.loads(str(saved["frontend"]))["model"] == "MTT_musicnn"
    assert any((tmp_path / "c").rglob("*.npy"))
    code, _, err = run(
        ["embed", "--data", tmp_path / "data", "--backbone", "x/y", "--tags"], capsys
    )
    assert code == 2 and "musicnn" in err


def test_start_up_and_default_classify_need_no_torch(tmp_path: Path) -> None:
    song = tmp_path / "six.wav"
    sf.write(song, synth.song(6.0, style="disco", seed=4), 22050)  # the default needs 5 s
    script = (
        "import sys\n"
        "from genrelab.cli import main\n"
        f"try:\n    main(['classify', {str(song)!r}, '--json'])\nexcept SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "heavy = {'torch', 'transformers', 'peft'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads(done.stdout)
    assert result["genre"] in result["probabilities"]
