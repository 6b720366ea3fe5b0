"""Worker processes of ``classify -j N`` die with their parent, even when it is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from genrelab import synth
from genrelab.batch import journal_path

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")


def _children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid = fields[0], int(fields[1])
        if ppid == pid and state != "Z":
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    """Children, their children and so on: a worker's own helpers must go too."""
    found = _children(pid)
    for child in list(found):
        found += _descendants(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except OSError:
        return 0


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_sigkilled_parent_takes_its_workers_along(tiny_bundle, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    for i in range(60):
        sf.write(music / f"{i:02d}.wav", synth.song(6.0, style="rock", seed=i), 22050)
    output = tmp_path / "out.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genrelab",
            "classify",
            str(music),
            "-m",
            str(tiny_bundle),
            "-j",
            "2",
            "-o",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    journal = journal_path(output)
    workers: list[int] = []
    try:
        # Workers are busy once results arrive in the journal (header line + one result).
        started = _wait(
            lambda: len(_children(parent.pid)) >= 2 and _lines(journal) >= 2, timeout=40
        )
        workers = _descendants(parent.pid)
        assert started and parent.poll() is None, "the run finished or never started workers"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _wait(lambda: not any(_alive(p) for p in workers), timeout=5), (
            f"still alive 5 s after the parent was killed: {[p for p in workers if _alive(p)]}"
        )
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in workers + _descendants(parent.pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)  # a failed run must not leave them behind
