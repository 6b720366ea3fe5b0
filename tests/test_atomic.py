"""The one atomic writer: modes like a plain ``open``, and an interrupted write loses nothing."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genrelab import atomic


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it after."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o002, 0o022, 0o077])
def test_new_files_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    text = atomic.write_text(tmp_path / "a.txt", "x")
    with atomic.atomic_path(tmp_path / "b.npy") as tmp:
        np.save(tmp, np.arange(3))
    folder = tmp_path / "bundle"
    with atomic.atomic_dir(folder) as tmp:
        (tmp / "card.json").write_text("{}")
    assert _mode(text) == _mode(tmp_path / "b.npy") == 0o666 & ~mask
    assert _mode(folder) == 0o777 & ~mask


def test_an_existing_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = atomic.write_text(tmp_path / "shared.csv", "old")
    target.chmod(0o640)
    atomic.write_text(target, "new")
    assert (target.read_text(), _mode(target)) == ("new", 0o640)


def test_an_exception_mid_write_keeps_the_old_file(tmp_path):
    target = atomic.write_bytes(tmp_path / "t.bin", b"old")
    with pytest.raises(OSError), atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.bin"]


def test_a_killed_writer_leaves_the_old_file_whole(tmp_path):
    """A process that dies inside the block (no cleanup runs) leaves the target untouched and
    at most a temporary that says whose it is."""
    target = atomic.write_text(tmp_path / "report.html", "old")
    script = (
        "import os, sys\n"
        "from genrelab.atomic import atomic_open\n"
        "with atomic_open(sys.argv[1]) as fh:\n"
        "    fh.write('new' * 1000)\n"
        "    fh.flush()\n"
        "    os._exit(9)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(atomic.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", script, str(target)], env=env, check=False)
    assert done.returncode == 9
    assert target.read_text() == "old"
    assert all(atomic.TMP_MARK in p.name for p in tmp_path.iterdir() if p != target)


def test_a_failed_folder_write_keeps_the_old_folder(tmp_path):
    folder = tmp_path / "bundle"
    with atomic.atomic_dir(folder) as tmp:
        (tmp / "card.json").write_text("old")
    with pytest.raises(RuntimeError), atomic.atomic_dir(folder) as tmp:
        (tmp / "card.json").write_text("new")
        raise RuntimeError("killed")
    assert (folder / "card.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_commit_replaces_a_finished_temporary(tmp_path):
    target = atomic.write_text(tmp_path / "song.flac", "old")
    tmp = atomic.temp_beside(target, ".mine-")
    assert tmp.parent == tmp_path and tmp.name.startswith(".song.flac.mine-")
    assert tmp.suffix == ".flac" and _mode(tmp) == 0o600
    tmp.write_text("new")
    atomic.commit(tmp, target)
    assert target.read_text() == "new" and not tmp.exists()
