"""Find the audio files in a folder, reporting the odd entries instead of skipping them.

Every entry whose name has an audio extension is listed, whatever it turns out to be (a
directory named ``song.wav``, a FIFO, a broken or looping symbolic link, an unreadable file):
the decoder then gives each its own one-line error, so a folder run records one failure per
such entry instead of silently leaving it out. Hidden names are skipped, and links to folders
are not followed, so a link loop cannot make the walk endless.
"""

from __future__ import annotations

import os
from pathlib import Path

from genrelab.audio.io import AUDIO_EXTENSIONS


def find_audio(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Sorted paths under ``folder`` named like audio (sub-folders too when ``recursive``)."""
    root = Path(folder)
    if not recursive:
        with os.scandir(root) as entries:
            return sorted(root / e.name for e in entries if _looks_like_audio(e.name))
    found = []
    for directory, folders, files in os.walk(root):
        base = Path(directory)
        found += [base / name for name in folders + files if _looks_like_audio(name)]
    return sorted(found)


def _looks_like_audio(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS
