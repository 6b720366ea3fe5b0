"""Write the predicted genre into audio files' own tags, never risking the original or its kin.

Each file is copied to a temporary file beside it, the copy is tagged with mutagen and
checked to still decode to the same audio, and only then put in place of the original:

- renamed over it (atomic) when that changes nothing else: the file has one link and its
  owner, group and mode can be given to the copy;
- otherwise copied back into the original (same inode, so hard links, owner, group, mode and
  ACLs stay). The copy is first renamed ``...copyback...``: if the run dies mid-copy, the
  next run finds it and finishes the copy before removing it.

A symlink is followed: its target is tagged and the link itself stays a link. Read-only
files are skipped unless forced. Temporary copies carry the writing process's id, so a
later run removes those left by a killed one (:func:`clean_stale_temps`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genrelab.atomic import commit, temp_beside
from genrelab.errors import GenrelabError
from genrelab.pipeline.result import failed

#: How GTZAN's labels are spelt in tags (ID3's standard genre names); others pass unchanged.
TAG_NAMES = {
    "blues": "Blues",
    "classical": "Classical",
    "country": "Country",
    "disco": "Disco",
    "hiphop": "Hip-Hop",
    "jazz": "Jazz",
    "metal": "Metal",
    "pop": "Pop",
    "reggae": "Reggae",
    "rock": "Rock",
}

_MARK = ".genrelab-tag-"
_COPYBACK = ".copyback"
#: ``.<name>.genrelab-tag-<pid>-<random>[.copyback]<suffix>``, as :func:`_safe_tag` names them.
_TEMP_RE = re.compile(
    r"^\.(?P<name>.+)\.genrelab-tag-(?P<pid>\d+)-[A-Za-z0-9_]+(?P<copyback>\.copyback)?(\.[^.]*)?$"
)
#: Copies left by earlier genrelab versions were named ``.<stem>.<mkstemp's 8 chars><suffix>``;
#: one is taken for ours only beside ``<stem><suffix>`` and once it is an hour old.
_LEGACY_RE = re.compile(r"^\.(?P<stem>.+)\.[a-z0-9_]{8}(?P<suffix>\.[^.]+)$")
_LEGACY_AGE_S = 3600.0


@dataclass(frozen=True)
class TagChange:
    """What happened (or, in a dry run, would happen) to one file's genre tag."""

    path: str
    old: str | None
    new: str
    #: ``written``, ``would write``, ``unchanged``, ``skipped`` or ``failed``.
    action: str
    reason: str = ""


@dataclass(frozen=True)
class TagPolicy:
    """The user's rules for ``--write-tags`` over their library."""

    #: Also write files that are read-only (mode without write bits, or not writable by us).
    force: bool = False
    #: Leave a genre that is already set (the user's own, e.g. "Indie Pop") alone.
    keep_existing: bool = False
    #: Tracks classified with less confidence keep their tags.
    min_confidence: float = 0.0
    #: Model label -> the tag text to write (the user's taxonomy); unmapped labels use TAG_NAMES.
    genre_map: Mapping[str, str] = field(default_factory=dict)


def genre_tag(label: str, genre_map: Mapping[str, str] | None = None) -> str:
    """The tag text for a model label: the user's map first, then ID3's standard names."""
    if genre_map and label in genre_map:
        return genre_map[label]
    return TAG_NAMES.get(label, label)


def parse_genre_map(spec: str, labels: Iterable[str] | None = None) -> dict[str, str]:
    """``"a=b,c=d"``, or a file holding a JSON object or ``label=Tag`` lines (``#`` comments).

    With ``labels``, a map naming a label the model does not predict is refused (a typo
    would otherwise silently tag nothing).
    """
    path = Path(spec)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise GenrelabError(f"cannot read --genre-map {path}: {err}") from err
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise GenrelabError(f"--genre-map {path} is not valid JSON: {err}") from err
            if not all(isinstance(v, str) for v in data.values()):
                raise GenrelabError(f"--genre-map {path}: every value must be a string")
            pairs = list(data.items())
        else:
            lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
            pairs = [_pair(line, str(path)) for line in lines if line]
    else:
        pairs = [_pair(item.strip(), "--genre-map") for item in spec.split(",") if item.strip()]
    mapping = {str(k): str(v) for k, v in pairs}
    if not mapping:
        raise GenrelabError(f"--genre-map {spec!r} maps nothing; expected label=Tag,...")
    if labels is not None:
        unknown = sorted(set(mapping) - set(labels))
        if unknown:
            raise GenrelabError(
                f"--genre-map names {', '.join(map(repr, unknown))}, which the model does not "
                f"predict; its labels: {', '.join(labels)}"
            )
    return mapping


def _pair(item: str, where: str) -> tuple[str, str]:
    label, sep, tag = item.partition("=")
    if not sep or not label.strip() or not tag.strip():
        raise GenrelabError(f"bad genre mapping {item!r} in {where}; expected label=Tag")
    return label.strip(), tag.strip()


def _id3_get(audio) -> str | None:
    frame = audio.tags.get("TCON") if audio.tags is not None else None
    return "; ".join(frame.text) if frame else None


def _id3_set(audio, genre: str) -> None:
    from mutagen.id3 import TCON

    if audio.tags is None:
        audio.add_tags()
    audio.tags.setall("TCON", [TCON(encoding=3, text=[genre])])


def _key_get(key: str) -> Callable[[Any], str | None]:
    def get(audio) -> str | None:
        values = audio.tags.get(key) if audio.tags is not None else None
        return "; ".join(map(str, values)) if values else None

    return get


def _key_set(key: str) -> Callable[[Any, str], None]:
    def put(audio, genre: str) -> None:
        if audio.tags is None:
            audio.add_tags()
        audio.tags[key] = [genre]

    return put


def _handlers() -> dict[type, tuple[Callable, Callable]]:
    """mutagen file type -> (read genre, write genre)."""
    from mutagen.aiff import AIFF
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE

    id3 = (_id3_get, _id3_set)
    vorbis = (_key_get("genre"), _key_set("genre"))
    mp4 = (_key_get("\xa9gen"), _key_set("\xa9gen"))
    return {
        MP3: id3,
        WAVE: id3,
        AIFF: id3,
        FLAC: vorbis,
        OggVorbis: vorbis,
        OggOpus: vorbis,
        MP4: mp4,
    }


def _open(path: Path):
    import mutagen

    try:
        return mutagen.File(path)
    except mutagen.MutagenError:
        return None


def tag_results(
    results: Iterable[dict[str, Any]], policy: TagPolicy, *, dry_run: bool = False
) -> list[TagChange]:
    """Write each classified track's genre under ``policy``; failed tracks are left out.

    Stale temporary copies of earlier killed runs are removed first, in every folder touched.
    """
    done = [r for r in results if not failed(r)]
    if not dry_run:
        clean_stale_temps({Path(r["path"]).resolve().parent for r in done})
    changes = []
    for r in done:
        new = genre_tag(r["genre"], policy.genre_map)
        if r["confidence"] < policy.min_confidence:
            reason = (
                f"confidence {r['confidence']:.2f} < --min-confidence {policy.min_confidence:g}"
            )
            changes.append(TagChange(r["path"], None, new, "skipped", reason))
            continue
        changes.append(
            write_genre(
                r["path"],
                new,
                dry_run=dry_run,
                force=policy.force,
                keep_existing=policy.keep_existing,
            )
        )
    return changes


def write_genre(
    path: str | Path,
    genre: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    keep_existing: bool = False,
) -> TagChange:
    """Set the file's genre tag to ``genre`` (safely; see the module doc)."""
    shown = str(path)
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError) as err:
        return TagChange(shown, None, genre, "skipped", f"cannot resolve ({err})")
    audio = _open(real)
    handler = _handlers().get(type(audio)) if audio is not None else None
    if handler is None:
        kind = real.suffix or "this file type"
        return TagChange(shown, None, genre, "skipped", f"no genre tag support for {kind}")
    read, write = handler
    old = read(audio)
    if old == genre:
        return TagChange(shown, old, genre, "unchanged")
    if keep_existing and old and old.strip():
        return TagChange(shown, old, genre, "skipped", "has a genre (--keep-existing)")
    st = real.stat()
    if not force and (st.st_mode & 0o222 == 0 or not os.access(real, os.W_OK)):
        return TagChange(shown, old, genre, "skipped", "read-only (--force writes it)")
    if dry_run:
        return TagChange(shown, old, genre, "would write")
    try:
        _safe_tag(real, lambda copy: _tag_copy(copy, write, genre))
    except Exception as err:
        return TagChange(shown, old, genre, "failed", f"{type(err).__name__}: {err}")
    return TagChange(shown, old, genre, "written")


def _tag_copy(copy: Path, write: Callable, genre: str) -> None:
    audio = _open(copy)
    write(audio, genre)
    audio.save()


def _safe_tag(path: Path, tag: Callable[[Path], None]) -> None:
    """Tag a copy beside ``path``, verify it decodes like the original, then put it in place."""
    st = path.stat()
    tmp = temp_beside(path, f"{_MARK}{os.getpid()}-")
    try:
        shutil.copy2(path, tmp)  # content, mode, times and extended attributes
        os.chmod(tmp, 0o600)  # writable while tagged, whatever the original's mode
        tag(tmp)
        if _decoded_length(tmp) != _decoded_length(path):
            raise RuntimeError("the tagged copy does not decode to the same audio")
        if st.st_nlink == 1 and _give_identity(tmp, st):
            commit(tmp, path)
        else:
            tmp = _copy_back(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _give_identity(tmp: Path, st: os.stat_result) -> bool:
    """Give ``tmp`` the original's owner, group and mode; False where we may not."""
    try:
        if (tmp.stat().st_uid, tmp.stat().st_gid) != (st.st_uid, st.st_gid):
            os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))  # after chown, which may clear set-id bits
    except PermissionError:
        return False
    return True


def _copy_back(tmp: Path, path: Path) -> Path:
    """Write ``tmp``'s bytes into ``path`` itself (same inode); returns the temp's final name.

    Once the original is open for writing, the temp is renamed ``...copyback...``: a run
    killed mid-copy leaves that mark, and :func:`clean_stale_temps` completes the copy.
    """
    marked = tmp.with_name(tmp.name[: -len(tmp.suffix) or None] + _COPYBACK + tmp.suffix)
    with open(path, "r+b") as dst:
        commit(tmp, marked)  # the verified copy is durable before the original is touched
        _overwrite(dst, marked)
    return marked


def _overwrite(dst: Any, source: Path) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, dst)
    dst.truncate()
    dst.flush()
    os.fsync(dst.fileno())


def clean_stale_temps(folders: Iterable[str | Path]) -> list[Path]:
    """Remove temporary copies left in ``folders`` by tag writers that are no longer running.

    An interrupted copy-back is completed first (its temp holds the verified tagged file
    and the original may be half-written). Returns the removed paths.
    """
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if _legacy_temp(entry):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
                continue
            match = _TEMP_RE.match(entry.name)
            if not match or not entry.is_file(follow_symlinks=False):
                continue
            if _alive(int(match["pid"])):
                continue
            temp = Path(entry.path)
            try:
                original = temp.with_name(match["name"])
                if match["copyback"] and original.is_file():
                    with open(original, "r+b") as dst:
                        _overwrite(dst, temp)
                temp.unlink(missing_ok=True)
            except OSError:
                continue  # not ours to fix (permissions): leave it for its owner
            removed.append(temp)
    return removed


def _legacy_temp(entry: os.DirEntry) -> bool:
    """A full-size copy an older genrelab's killed tag writer left (it always renamed, so the
    original was never touched: the copy is only in the way)."""
    match = _LEGACY_RE.match(entry.name)
    if not match or _MARK in entry.name or not entry.is_file(follow_symlinks=False):
        return False
    original = Path(entry.path).with_name(match["stem"] + match["suffix"])
    try:
        age = time.time() - entry.stat(follow_symlinks=False).st_ctime
    except OSError:
        return False
    return original.is_file() and age > _LEGACY_AGE_S


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _decoded_length(path: Path) -> int:
    """Frames decoded at the native rate: raises if the file no longer decodes."""
    from genrelab.audio import stream

    return sum(block.shape[-1] for block in stream(path))
