"""``genrelab classify`` end to end: JSON shape, exit codes, tables, albums, tags, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import mutagen
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.batch import genre_tag, read_table, tagging_available
from genrelab.cli import main


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture
def album(tmp_path):
    """Three 4 s tracks and one corrupt file in a folder."""
    root = tmp_path / "album"
    root.mkdir()
    for i, style in enumerate(("classical", "rock", "ambient")):
        sf.write(
            root / f"{i + 1:02d}-{style}.wav", synth.song(4.0, style=style, seed=60 + i), 22050
        )
    (root / "04-broken.ogg").write_bytes(b"OggS" + b"\x00" * 64)
    return root


def test_json_has_every_track_in_order_and_broken_files_as_errors(album, tiny_bundle, capsys):
    code, out, err = run(["classify", album, "-m", tiny_bundle, "--json"], capsys)
    assert code == 0
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(p) for p in sorted(album.iterdir())]
    *ok, broken = results
    assert set(broken) == set(ok[0]) and broken["genre"] is None and broken["error"]
    for r in ok:
        assert r["error"] is None
        assert {"genre", "confidence", "probabilities", "logits", "windows", "tags"} <= set(r)
        assert set(r["probabilities"]) == {"ambient", "classical", "rock"}
        assert r["confidence"] == max(r["probabilities"].values())
        assert [(w["start"], w["end"]) for w in r["windows"]] == [(0.0, 2.0), (2.0, 4.0)]
        assert (r["tags"] is not None) == tagging_available()
    assert [line for line in err.splitlines() if line.startswith("genrelab:")] == [
        f"genrelab: {broken['error']}"
    ]


def test_table_lists_tracks_and_an_album_distribution(album, tiny_bundle, capsys, monkeypatch):
    from genrelab.cli import common

    monkeypatch.setattr(common.out, "width", 200)  # keep rich from folding file names
    code, out, _ = run(["classify", album, "-m", tiny_bundle, "--album"], capsys)
    assert code == 0
    assert "01-classical.wav" in out and "04-broken.ogg" not in out
    assert "album: 4 tracks (1 failed)" in out and "tracks won" in out and "█" in out


def test_album_json_has_the_distribution(album, tiny_bundle, capsys):
    code, out, _ = run(["classify", album, "-m", tiny_bundle, "--album", "--json"], capsys)
    assert code == 0
    document = json.loads(out)
    assert len(document["tracks"]) == 4
    distribution = document["album"]["distribution"]
    assert sum(distribution.values()) == pytest.approx(1.0)
    assert sum(document["album"]["wins"].values()) == 3


def test_output_table_goes_to_the_file(album, tiny_bundle, tmp_path, capsys):
    out_file = tmp_path / "results.jsonl"
    code, out, err = run(["classify", album, "-m", tiny_bundle, "-o", out_file], capsys)
    assert code == 0 and out == ""
    assert f"wrote 4 rows to {out_file} (1 failed)" in err
    table = read_table(out_file)
    assert len(table) == 4 and table["error"].astype(bool).sum() == 1


def test_write_tags_dry_run_changes_nothing_then_writes(album, tiny_bundle, capsys):
    before = {p: p.read_bytes() for p in album.iterdir()}
    code, out, _ = run(["classify", album, "-m", tiny_bundle, "--write-tags", "--dry-run"], capsys)
    assert code == 0 and out.count("would write") == 3
    assert {p: p.read_bytes() for p in album.iterdir()} == before

    code, out, _ = run(["classify", album, "-m", tiny_bundle, "--write-tags", "--json"], capsys)
    assert code == 0
    for r in json.loads(out)[:3]:
        assert mutagen.File(r["path"]).tags["TCON"].text == [genre_tag(r["genre"])]


def test_nothing_classified_exits_1(tmp_path, tiny_bundle, capsys):
    (tmp_path / "a.wav").write_bytes(b"RIFF....WAVE")
    code, out, err = run(["classify", tmp_path, "-m", tiny_bundle, "--json"], capsys)
    assert code == 1
    assert json.loads(out)[0]["error"]
    assert "a.wav" in err
    code, out, err = run(["classify", tmp_path / "a.wav", "-m", tiny_bundle], capsys)
    assert code == 1 and out == ""  # the one error line, no empty table
    assert err.count("\n") == 1 and "a.wav" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["/definitely/missing.wav"], "no such file or folder"),
        (["--workers", "0", "x.wav"], "--workers"),
        (["-o", "results.txt", "x.wav"], "must end in .csv, .jsonl, .parquet"),
        (["--dry-run", "x.wav"], "--dry-run applies to --write-tags"),
        (["--resume", "x.wav"], "--resume needs --output"),
        (["--ray", "--workers", "2", "x.wav"], "choose --workers or --ray"),
        (["--aggregate", "median", "x.wav"], "unknown aggregate 'median'"),
        (["-m", "/no/bundle", "--example"], "no model bundle at /no/bundle"),
    ],
)
def test_bad_usage_prints_one_line_and_exits_2(extra, message, capsys):
    code, _, err = run(["classify", *extra], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genrelab: error:"), err
    assert message.lower() in lines[0].lower()


def test_ray_without_ray_installed_says_what_to_install(album, tiny_bundle, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    code, _, err = run(["classify", album, "-m", tiny_bundle, "--ray"], capsys)
    assert code == 2
    assert "pip install 'genrelab[ray]'" in err


#: What the default classify path must not import: each costs from 0.2 s to seconds per process.
HEAVY = (
    "librosa",
    "scipy.signal",
    "scipy.stats",
    "sklearn",
    "xgboost",
    "pandas",
    "joblib",
    "torch",
    "transformers",
    "gradio",
)


def test_default_classify_imports_none_of_the_heavy_libraries(tmp_path):
    clip = tmp_path / "song.wav"
    sf.write(clip, synth.song(8.0, style="rock", seed=3), 22050)
    code = (
        "import json, sys\n"
        "from genrelab.cli import main\n"
        f"try:\n    main(['classify', '--json', {str(clip)!r}])\n"
        "except SystemExit as done:\n    assert done.code in (0, None), done.code\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    *document, imported = result.stdout.strip().splitlines()
    assert json.loads(imported) == []
    (track,) = json.loads("\n".join(document))
    assert track["genre"] in track["probabilities"]
    if tagging_available():  # tags come from the model's own musicnn pass
        assert len(track["tags"]) == 5 and all(0 < t["score"] < 1 for t in track["tags"])
