"""Atomic output: every file genrelab writes (tables, PNGs, JSON, caches, bundles) goes here.

Readers never see half a file and a crash never leaves one: the data goes to a temporary
file in the target's folder, is flushed to disk (fsync), renamed over the target (atomic
within one file system) and the folder is fsynced so the rename itself survives a power cut.
``mkstemp`` creates private (0600) files; the result gets the mode a plain ``open`` would
give (an existing file's own mode, else 0666 less the umask), so output in shared folders
stays readable by the group.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

#: Part of every temporary name, so leftovers are recognisably ours.
TMP_MARK = ".genrelab-tmp-"


def umask() -> int:
    """The process umask, read without changing it where the OS allows (``os.umask`` sets it)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """What ``open(path, "w")`` would create: 0666 less the umask."""
    return 0o666 & ~umask()


def mode_for(path: Path) -> int:
    """The mode ``open(path, "w")`` would leave: an existing file keeps its own."""
    try:
        st = path.stat()
    except OSError:
        return file_mode()
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else file_mode()


def fsync_dir(directory: str | Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_beside(path: Path, mark: str = TMP_MARK) -> Path:
    """A new empty private (0600) file ``.<name><mark><random><suffix>`` in ``path``'s folder,
    so that renaming it over ``path`` stays within one file system."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}{mark}", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def commit(tmp: Path, path: Path) -> None:
    """Put the finished file ``tmp`` in place of ``path`` for good: fsync it, rename it over
    ``path`` and fsync the folder. Its mode is the caller's to set first."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` when the block succeeds.

    For writers that take a file name (pandas, matplotlib, ``np.save``, ``torch.save``); on
    any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        yield tmp
        os.chmod(tmp, mode_for(path))
        commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = None) -> Iterator[IO]:
    """``open(path, mode)`` whose content appears at ``path`` only once the block succeeds."""
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as fh:
        yield fh


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | Path, data: Any, *, indent: int | None = 2, default: Any = None) -> Path:
    """JSON with a final newline."""
    return write_text(path, json.dumps(data, indent=indent, default=default) + "\n")


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` that replaces the folder ``path`` when the block succeeds.

    Every file written into it is fsynced before the rename; an existing ``path`` is moved
    aside first and deleted after, so at every moment ``path`` is the old or the new folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}{TMP_MARK}", dir=path.parent))
    try:
        tmp.chmod(0o777 & ~umask())  # mkdtemp's folder is private; the result is not
        yield tmp
        _fsync_tree(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}{TMP_MARK}old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(folder)
