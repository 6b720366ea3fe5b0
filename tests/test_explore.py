"""``genrelab explore``: per-file and per-genre figures, an index, the user's file modes."""

from __future__ import annotations

import os
import re
import stat

import pytest
import soundfile as sf

from genrelab import synth
from genrelab.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


@pytest.fixture
def genres(tmp_path):
    root = tmp_path / "genres"
    for style in ("classical", "rock"):
        (root / style).mkdir(parents=True)
        for i in range(2):
            sf.write(root / style / f"{style}-{i}.wav", synth.song(3.0, style=style, seed=i), 22050)
    (root / "rock" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    return root


def test_a_folder_gets_file_figures_a_gallery_distributions_and_an_index(
    genres, tmp_path, capsys, umask_027
):
    out = tmp_path / "eda"
    code, stdout, err = run(["explore", genres, "-o", out, "--per-genre", "1"], capsys)
    assert code == 0, err
    assert "4 file(s) explored" in stdout
    assert "broken.wav" in err and len(err.strip().splitlines()) == 1  # skipped, one line
    figures = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert "genre-gallery.png" in figures and "feature-distributions.png" in figures
    assert len([f for f in figures if f.startswith("files/")]) == 4
    index = (out / "index.html").read_text()
    assert sorted(re.findall(r'img src="([^"]+)"', index)) == figures
    for path in [*out.rglob("*.png"), out / "index.html"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path  # 0o666 less the umask
    assert all(p.read_bytes()[:8] == PNG for p in out.rglob("*.png"))
    assert not [p for p in out.rglob(".*")]  # no temporary files left behind


def test_one_file_gets_its_figure_only(genres, tmp_path, capsys):
    out = tmp_path / "one"
    code, _, err = run(["explore", genres / "rock" / "rock-0.wav", "-o", out], capsys)
    assert code == 0, err
    assert [p.name for p in out.rglob("*.png")] == ["000-rock-0.png"]
    assert "rock-0.wav" in (out / "index.html").read_text()


def test_a_missing_path_is_a_one_line_usage_error(tmp_path, capsys):
    code, _, err = run(["explore", tmp_path / "nope", "-o", tmp_path / "x"], capsys)
    assert (
        code == 2 and err.strip() == f"genrelab: error: no such file or folder: {tmp_path / 'nope'}"
    )


def test_training_curves_tick_whole_epochs(tmp_path, monkeypatch):
    import pandas as pd

    from genrelab.evaluation import plots

    shown = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: shown.append(fig) or path)
    history = pd.DataFrame(
        {"epoch": [1, 2, 3], "loss": [1.0, 0.7, 0.5], "valid_accuracy": [0.4, 0.6, 0.7]}
    )
    plots.plot_curves(history, tmp_path / "curves.png")
    for ax in shown[0].axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
