"""Write the predicted genre into audio files' own tags, never risking the original.

Each file is copied to a temporary file in the same folder, the copy is tagged with mutagen
and checked to still decode to the same audio, and only then renamed over the original
(same folder, so the rename is atomic). Any failure leaves the original untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class TagChange:
    """What happened (or, in a dry run, would happen) to one file's genre tag."""

    path: str
    old: str | None
    new: str
    #: ``written``, ``would write``, ``unchanged``, ``skipped`` or ``failed``.
    action: str
    reason: str = ""


def genre_tag(label: str) -> str:
    return TAG_NAMES.get(label, label)


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


def write_genre(path: str | Path, genre: str, *, dry_run: bool = False) -> TagChange:
    """Set the file's genre tag to ``genre`` (safely; see the module doc)."""
    path = Path(path)
    audio = _open(path)
    handler = _handlers().get(type(audio)) if audio is not None else None
    if handler is None:
        kind = path.suffix or "this file type"
        return TagChange(str(path), None, genre, "skipped", f"no genre tag support for {kind}")
    read, write = handler
    old = read(audio)
    if old == genre:
        return TagChange(str(path), old, genre, "unchanged")
    if dry_run:
        return TagChange(str(path), old, genre, "would write")
    try:
        _safe_tag(path, lambda copy: _tag_copy(copy, write, genre))
    except Exception as err:
        return TagChange(str(path), old, genre, "failed", f"{type(err).__name__}: {err}")
    return TagChange(str(path), old, genre, "written")


def _tag_copy(copy: Path, write: Callable, genre: str) -> None:
    audio = _open(copy)
    write(audio, genre)
    audio.save()


def _safe_tag(path: Path, tag: Callable[[Path], None]) -> None:
    """Tag a same-folder copy, verify it decodes like the original, then replace the original."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copy2(path, tmp)
        tag(tmp)
        if _decoded_length(tmp) != _decoded_length(path):
            raise RuntimeError("the tagged copy does not decode to the same audio")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _decoded_length(path: Path) -> int:
    """Frames decoded at the native rate: raises if the file no longer decodes."""
    from genrelab.audio import stream

    return sum(block.shape[-1] for block in stream(path))
