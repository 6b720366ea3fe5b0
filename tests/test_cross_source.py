"""``compare --protocol cross-source``: fit on one source, score on another, per class."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.cli import main
from genrelab.experiments.cross_source import _folds

STYLES = ("classical", "rock", "ambient")


def make_source(root, seeds, gain=1.0, artists=2, with_extra=False):
    """A manifest source: 3 styles x len(seeds) clips, ``artists`` groups per style."""
    root.mkdir()
    lines = ["path,label,group"]
    for style in STYLES + (("drone",) if with_extra else ()):
        for i, seed in enumerate(seeds):
            name = f"{style}-{seed}.wav"
            y = synth.song(4.0, style=style if style != "drone" else "ambient", seed=seed)
            sf.write(root / name, gain * y, 22050)
            lines.append(f"{name},{style},{style}-artist{i % artists}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("cross")
    a = make_source(base / "a", seeds=range(4))
    b = make_source(base / "b", seeds=range(10, 14), gain=0.3, with_extra=True)
    return a, b


def test_folds_keep_whole_groups_together():
    groups = np.array(["x", "x", "y", "z", "z", "z", "w"])
    fold = _folds(groups, 3, seed=0)
    for g in set(groups):
        assert len(set(fold[groups == g])) == 1
    assert len(set(fold)) == 3


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_cross_source_reports_per_source_and_class(sources, tmp_path, capsys):
    a, b = sources
    out = tmp_path / "out"
    argv = ["compare", "--models", "logreg", "--data", f"{a},{b}", "--test-data", f"{b},{a}"]
    code, _, err = run([*argv, "--protocol", "cross-source", "--window", "2", "-o", out], capsys)
    assert code in (0, None), err
    [result] = json.loads((out / "cross_source.json").read_text())
    assert result["protocol"] == "cross-source" and result["train"] == [str(a), str(b)]
    for spec in (str(a), str(b)):
        entry = result["sources"][spec]
        # Both sources are also training sources: scored by leave-group-out CV.
        assert entry["how"].startswith("leave-group-out")
        assert set(entry["metrics"]["per_class"]) <= {*STYLES, "drone"}
    worst = min(result["sources"], key=lambda s: result["sources"][s]["metrics"]["accuracy"])
    assert result["headline"]["worst_source"] == worst
    assert "| logreg |" in (out / "cross_source.md").read_text()


def test_a_label_the_model_lacks_is_counted_not_scored(sources, tmp_path, capsys):
    a, b = sources
    out = tmp_path / "out"
    argv = ["compare", "--models", "logreg", "--data", str(a), "--test-data", str(b)]
    code, stdout, _ = run([*argv, "--protocol", "cross-source", "--window", "2", "-o", out], capsys)
    assert code in (0, None)
    [result] = json.loads((out / "cross_source.json").read_text())
    entry = result["sources"][str(b)]
    assert entry["how"] == "held out: never trained on"
    assert entry["unscored"] == {"files": 4, "labels": ["drone"]}
    assert entry["metrics"]["n"] == 12
    assert "cross-source: worst source first" in stdout


def test_cross_source_needs_test_data(sources, tmp_path, capsys):
    a, _ = sources
    argv = ["compare", "--models", "logreg", "--data", str(a), "--protocol", "cross-source"]
    code, _, err = run([*argv, "-o", tmp_path], capsys)
    assert code == 2 and "needs --test-data" in err
