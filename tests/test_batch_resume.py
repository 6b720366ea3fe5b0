"""A batch run killed with SIGKILL mid-way, then resumed, equals an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf

from genrelab import synth
from genrelab.batch import journal_path, read_table

CLI = [sys.executable, "-c", "from genrelab.cli import main; main()"]


def _journal_rows(path) -> int:
    try:
        return max(0, path.read_text().count("\n") - 1)  # minus the header line
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_table(tiny_bundle, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    for i in range(10):
        style = ("classical", "rock", "ambient")[i % 3]
        sf.write(music / f"{i:02d}.wav", synth.song(4.0, style=style, seed=40 + i), 22050)
    (music / "05-broken.flac").write_bytes(b"fLaC but not really")
    args = [*CLI, "classify", str(music), "-m", str(tiny_bundle)]

    full = tmp_path / "full.csv"
    subprocess.run([*args, "-o", str(full)], check=True, capture_output=True)

    out = tmp_path / "resumed.csv"
    journal = journal_path(out)
    victim = subprocess.Popen([*args, "-o", str(out)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _journal_rows(journal) < 3 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    done = _journal_rows(journal)
    assert 3 <= done < 11, f"the kill should land mid-run ({done} rows journalled)"
    assert not out.exists()
    # Mark one journalled result: if resuming redid that file, the mark would be gone.
    lines = journal.read_text().split("\n")
    first = json.loads(lines[1])
    lines[1] = json.dumps({**first, "genre": "from-the-journal"})
    journal.write_text("\n".join(lines))

    resumed = subprocess.run([*args, "-o", str(out), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert not journal.exists()
    a, b = read_table(full), read_table(out)
    assert len(b) == 11 and b["path"].is_unique, "no file lost or duplicated"
    marked = b["path"] == first["path"]
    assert b.loc[marked, "genre"].item() == "from-the-journal", "journalled files are not redone"
    b.loc[marked, "genre"] = first["genre"]
    assert a.equals(b), "otherwise identical rows"
