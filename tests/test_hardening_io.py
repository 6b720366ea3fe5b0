"""Output files follow the umask; ``--aggregate middle`` decodes only the middle window."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from genrelab import atomic


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_umask_is_read_without_being_changed(umask_002):
    assert atomic.umask() == 0o002
    assert atomic.umask() == 0o002
    assert atomic.file_mode() == 0o664


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_tables_get_the_umask_mode(tmp_path, umask_002, suffix):
    from genrelab.batch import write_table

    result = {
        "path": "a.wav",
        "genre": "rock",
        "confidence": 0.9,
        "probabilities": {"rock": 0.9, "pop": 0.1},
        "logits": {"rock": -0.1, "pop": -2.3},
    }
    path = write_table(tmp_path / f"out{suffix}", [result], ["rock", "pop"])
    assert _mode(path) == 0o664
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left


def test_pngs_json_and_text_get_the_umask_mode(tmp_path, umask_002):
    from genrelab.evaluation.plots import plot_confusion

    png = plot_confusion([[3, 1], [0, 4]], ["a", "b"], tmp_path / "confusion.png")
    js = atomic.write_json(tmp_path / "metrics.json", {"accuracy": 1.0})
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert {_mode(png), _mode(js)} == {0o664}
    os.umask(0o077)
    assert _mode(atomic.write_text(tmp_path / "private.txt", "x")) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = atomic.write_text(tmp_path / "t.txt", "old")
    with pytest.raises(RuntimeError), atomic.atomic_open(target) as fh:
        fh.write("new")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_a_saved_bundle_folder_and_its_files_follow_the_umask(tiny_bundle, tmp_path, umask_002):
    from genrelab.models import load_bundle

    saved = load_bundle(tiny_bundle).save(tmp_path / "copy")
    assert _mode(saved) == 0o775
    assert _mode(saved / "card.json") == 0o664
