"""``--write-tags`` leaves everything about a library but the genre as it was.

Symlinks stay links, hard links stay linked, owner/group/mode stay, read-only files and
users' own genres are left alone when asked, and a killed run's temporaries are cleaned up.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.audio import load
from genrelab.batch import TagPolicy, genre_tag, parse_genre_map, tag_results, write_genre
from genrelab.batch import tags as tags_module
from genrelab.cli import main
from genrelab.errors import GenrelabError

SR = 22050
SIGNAL = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)


def _flac(path: Path, genre: str | None = None) -> Path:
    sf.write(path, SIGNAL, SR)
    if genre is not None:
        audio = mutagen.File(path)
        audio["genre"] = [genre]
        audio.save()
    return path


def _genre(path: Path) -> list[str]:
    return list(mutagen.File(path).get("genre") or [])


def _samples(path: Path) -> np.ndarray:
    """The decoded samples, exactly as stored (16-bit integers: no rounding to compare)."""
    return sf.read(path, dtype="int16", always_2d=True)[0]


def _leftovers(folder: Path) -> list[str]:
    """Hidden files in ``folder``: what a tag writer's temporary copies are named like."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _result(path: Path, genre: str = "rock", confidence: float = 0.9) -> dict:
    return {"path": str(path), "genre": genre, "confidence": confidence}


def test_a_symlink_stays_a_link_and_its_target_is_tagged(tmp_path):
    target = _flac(tmp_path / "real.flac")
    link = tmp_path / "link.flac"
    link.symlink_to(target.name)
    before = _samples(target)
    change = write_genre(link, "Rock")
    assert change.action == "written", change.reason
    assert link.is_symlink() and os.readlink(link) == target.name
    assert _genre(target) == ["Rock"]
    np.testing.assert_array_equal(_samples(target), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.flac", "real.flac"]


def test_hard_links_stay_one_file(tmp_path):
    first = _flac(tmp_path / "a.flac")
    second = tmp_path / "b.flac"
    os.link(first, second)
    inode = first.stat().st_ino
    before = _samples(first)
    assert write_genre(first, "Jazz").action == "written"
    assert first.stat().st_ino == second.stat().st_ino == inode
    assert first.stat().st_nlink == 2
    assert _genre(second) == ["Jazz"]
    np.testing.assert_array_equal(load(second)[0], load(tmp_path / "a.flac")[0])
    np.testing.assert_array_equal(_samples(second), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac", "b.flac"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_owner_group_and_mode_are_kept(tmp_path):
    path = _flac(tmp_path / "theirs.flac")
    os.chown(path, 1, 2)  # daemon / bin: another user's file
    os.chmod(path, 0o640)
    before = _samples(path)
    assert write_genre(path, "Blues").action == "written"
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1, 2, 0o640)
    assert _genre(path) == ["Blues"]
    np.testing.assert_array_equal(_samples(path), before)
    assert _leftovers(tmp_path) == []


def test_mode_is_kept_for_own_files(tmp_path):
    path = _flac(tmp_path / "mine.flac")
    os.chmod(path, 0o604)
    before = _samples(path)
    assert write_genre(path, "Blues").action == "written"
    assert stat.S_IMODE(path.stat().st_mode) == 0o604
    np.testing.assert_array_equal(_samples(path), before)
    assert _leftovers(tmp_path) == []


def test_read_only_files_are_skipped_unless_forced(tmp_path):
    path = _flac(tmp_path / "ro.flac")
    os.chmod(path, 0o444)
    original = path.read_bytes()
    before = _samples(path)
    change = write_genre(path, "Pop")
    assert change.action == "skipped" and "read-only" in change.reason
    assert path.read_bytes() == original
    assert write_genre(path, "Pop", force=True).action == "written"
    assert _genre(path) == ["Pop"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    np.testing.assert_array_equal(_samples(path), before)
    assert _leftovers(tmp_path) == []


def test_keep_existing_leaves_the_users_genre(tmp_path):
    mine = _flac(tmp_path / "mine.flac", genre="Indie Pop")
    bare = _flac(tmp_path / "bare.flac")
    policy = TagPolicy(keep_existing=True)
    original = mine.read_bytes()
    changes = tag_results([_result(mine, "pop"), _result(bare, "pop")], policy)
    assert [(c.action, c.old) for c in changes] == [("skipped", "Indie Pop"), ("written", None)]
    assert _genre(mine) == ["Indie Pop"] and _genre(bare) == ["Pop"]
    assert mine.read_bytes() == original, "a kept file is not rewritten at all"
    np.testing.assert_array_equal(_samples(bare), _samples(mine))
    assert write_genre(mine, "Pop").action == "written"  # without the option it is replaced


def test_min_confidence_skips_unsure_tracks(tmp_path):
    sure = _flac(tmp_path / "sure.flac")
    unsure = _flac(tmp_path / "unsure.flac")
    policy = TagPolicy(min_confidence=0.5)
    changes = tag_results([_result(sure, confidence=0.8), _result(unsure, confidence=0.3)], policy)
    assert [c.action for c in changes] == ["written", "skipped"]
    assert "0.30" in changes[1].reason
    assert _genre(unsure) == []


def test_genre_map_writes_the_users_taxonomy(tmp_path):
    a = _flac(tmp_path / "a.flac")
    b = _flac(tmp_path / "b.flac")
    mapping = parse_genre_map("rock=Guitar Music, hiphop = Rap", labels=["rock", "hiphop", "pop"])
    tag_results([_result(a, "rock"), _result(b, "pop")], TagPolicy(genre_map=mapping))
    assert (_genre(a), _genre(b)) == (["Guitar Music"], ["Pop"])

    as_lines = tmp_path / "map.txt"
    as_lines.write_text("# mine\nrock = Loud\n")
    assert parse_genre_map(str(as_lines)) == {"rock": "Loud"}
    as_json = tmp_path / "map.json"
    as_json.write_text('{"pop": "Chart"}')
    assert parse_genre_map(str(as_json)) == {"pop": "Chart"}
    with pytest.raises(GenrelabError, match="'rokc'"):
        parse_genre_map("rokc=Loud", labels=["rock"])
    with pytest.raises(GenrelabError, match="label=Tag"):
        parse_genre_map("rock")


def test_a_killed_runs_temporaries_are_removed_by_the_next_run(tmp_path):
    path = _flac(tmp_path / "t07 country.00001.flac")
    # A process that has exited: its pid is free, as after a kill.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale = tmp_path / f".{path.name}.genrelab-tag-{pid}-abc123xy.flac"
    stale.write_bytes(path.read_bytes())
    live = tmp_path / f".{path.name}.genrelab-tag-{os.getppid()}-zzz999aa.flac"
    live.write_bytes(b"another run's work in progress")
    user_file = tmp_path / ".hidden.flac"
    user_file.write_bytes(b"not ours")
    tag_results([_result(path)], TagPolicy())
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([path.name, live.name, user_file.name])
    assert _genre(path) == ["Rock"]


def test_copies_left_by_older_versions_are_removed_once_stale(tmp_path, monkeypatch):
    path = _flac(tmp_path / "t07 country.00001.flac")
    legacy = tmp_path / ".t07 country.00001.k3j_x9q2.flac"  # what mkstemp named them
    legacy.write_bytes(path.read_bytes())
    unrelated = tmp_path / ".notes.abcdefgh.flac"  # no notes.flac beside it: not ours
    unrelated.write_bytes(b"x")
    assert tags_module.clean_stale_temps([tmp_path]) == []  # too fresh: may be in use
    monkeypatch.setattr(tags_module, "_LEGACY_AGE_S", -1.0)
    assert tags_module.clean_stale_temps([tmp_path]) == [legacy]
    assert unrelated.exists() and path.exists()


def test_an_interrupted_copy_back_is_completed_by_the_next_run(tmp_path):
    path = _flac(tmp_path / "song.flac")
    tagged = tmp_path / "tagged.flac"
    _flac(tagged, genre="Metal")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    mark = tmp_path / f".song.flac.genrelab-tag-{int(dead.stdout)}-abc123xy.copyback.flac"
    os.replace(tagged, mark)
    path.write_bytes(path.read_bytes()[:100])  # the copy died half-way
    assert tags_module.clean_stale_temps([tmp_path]) == [mark]
    assert _genre(path) == ["Metal"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.flac"]


def test_cli_tag_options_need_write_tags(tmp_path):
    from genrelab.cli import main

    path = _flac(tmp_path / "a.flac")
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(path), "--keep-existing"])
    assert exit_info.value.code == 2


# --- through the CLI, with a model: --keep-existing, and a run killed mid-write -----------

#: Runs the CLI in a fresh process that SIGKILLs itself at one point of its first tag write.
_DIE_AT = textwrap.dedent(
    """
    import os, signal, sys
    from genrelab.batch import tags
    from genrelab.cli import main

    def half_then_die(dst, source):  # the copy back into the original stops half-way
        data = source.read_bytes()
        dst.write(data[: len(data) // 2])
        dst.flush()
        os.fsync(dst.fileno())
        os.kill(os.getpid(), signal.SIGKILL)

    def die(*args):  # the tagged copy is ready, the original untouched
        os.kill(os.getpid(), signal.SIGKILL)

    if sys.argv[1] == "copy-back":
        tags._overwrite = half_then_die
    else:
        tags._give_identity = die
    main(sys.argv[2:])
    """
)


def _library(root: Path, count: int, links: Path | None = None) -> dict[Path, np.ndarray]:
    """``count`` 3 s FLAC tracks (hard-linked into ``links`` if given) and their samples."""
    root.mkdir()
    if links is not None:
        links.mkdir()
    for i in range(count):
        path = root / f"{i:02d} track [live].flac"
        sf.write(path, synth.song(3.0, style="rock", seed=i), SR, subtype="PCM_16")
        if links is not None:
            os.link(path, links / path.name)
    return {path: _samples(path) for path in sorted(root.iterdir())}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _rerun(folder: Path, bundle: Path, capfd) -> dict[str, str]:
    """Tag ``folder`` again in this process; returns each file's tag from the model's answer."""
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(folder), "-m", str(bundle), "--write-tags", "--json"])
    out = capfd.readouterr().out
    assert exit_info.value.code in (0, None)
    return {Path(r["path"]).name: genre_tag(r.get("genre", "")) for r in json.loads(out)}


def _assert_intact_and_tagged(
    before: dict[Path, np.ndarray], expected: dict[str, str], stats: dict[Path, os.stat_result]
) -> None:
    for path, samples in before.items():
        np.testing.assert_array_equal(_samples(path), samples, err_msg=path.name)
        assert _genre(path) == [expected[path.name]], path.name
        st, was = path.stat(), stats[path]
        assert (st.st_ino, st.st_nlink, st.st_uid, st.st_gid, st.st_mode) == (
            was.st_ino if was.st_nlink > 1 else st.st_ino,  # a single-link file may be renamed over
            was.st_nlink,
            was.st_uid,
            was.st_gid,
            was.st_mode,
        ), path.name


def test_cli_keep_existing_leaves_the_users_genre(tiny_bundle, tmp_path, capfd):
    before = _library(tmp_path / "music", 2)
    mine, bare = before
    audio = mutagen.File(mine)
    audio["genre"] = ["Indie Pop"]
    audio.save()
    original = mine.read_bytes()
    with pytest.raises(SystemExit):
        main(
            [
                "classify",
                str(tmp_path / "music"),
                "-m",
                str(tiny_bundle),
                "--write-tags",
                "--keep-existing",
            ]
        )
    assert "has a genre (--keep-existing)" in capfd.readouterr().out
    assert mine.read_bytes() == original and _genre(mine) == ["Indie Pop"]
    assert _genre(bare) and _genre(bare) != ["Indie Pop"]
    np.testing.assert_array_equal(_samples(bare), before[bare])
    assert _leftovers(tmp_path / "music") == []


@pytest.mark.parametrize("point", ["copy-back", "before-rename"])
def test_a_run_killed_mid_write_is_made_whole_by_the_rerun(point, tiny_bundle, tmp_path, capfd):
    """Killed half-way through writing a hard-linked original (copy-back) or with a tagged
    copy not yet renamed: the next run leaves every track whole, tagged, and no temporaries."""
    music, links = tmp_path / "music", tmp_path / "links"
    before = _library(music, 4, links if point == "copy-back" else None)
    stats = {path: path.stat() for path in before}
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            _DIE_AT,
            point,
            "classify",
            str(music),
            "-m",
            str(tiny_bundle),
            "--write-tags",
        ],
        env=_env(),
        capture_output=True,
        timeout=50,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert _leftovers(music), "the kill left a temporary copy behind (the case under test)"
    # The rerun restores a half-written original before classifying it: every track whole,
    # classified and tagged in one go.
    expected = _rerun(music, tiny_bundle, capfd)
    assert _leftovers(music) == []
    assert all(expected.values()), expected
    _assert_intact_and_tagged(before, expected, stats)
    if point == "copy-back":
        for path in before:
            assert _genre(links / path.name) == _genre(path)  # still one file


def test_a_sigkilled_run_then_a_rerun_leaves_every_track_whole(tiny_bundle, tmp_path, capfd):
    """A real ``classify --write-tags`` killed from outside while it writes tags."""
    music = tmp_path / "music"
    before = _library(music, 16, tmp_path / "links")
    for i, path in enumerate(before):  # half single-link files (renamed over), half linked
        if i % 2:
            (tmp_path / "links" / path.name).unlink()
    stats = {path: path.stat() for path in before}
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genrelab",
            "classify",
            str(music),
            "-m",
            str(tiny_bundle),
            "--write-tags",
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: set[str] = set()
    deadline = time.monotonic() + 50
    try:
        while len(seen) < 5 and run.poll() is None and time.monotonic() < deadline:
            seen.update(name for name in _leftovers(music) if tags_module._MARK in name)
        run.send_signal(signal.SIGKILL)
        assert run.wait(10) == -signal.SIGKILL, "the run ended before it could be killed"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert len(seen) >= 5, "killed mid-way through the tag writes"
    expected = _rerun(music, tiny_bundle, capfd)
    assert _leftovers(music) == []
    assert all(expected.values()), expected
    _assert_intact_and_tagged(before, expected, stats)
