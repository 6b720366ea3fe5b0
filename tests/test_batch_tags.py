"""Writing the genre into files' tags: every format, dry runs, and originals never corrupted."""

from __future__ import annotations

import av
import mutagen
import numpy as np
import pytest
import soundfile as sf

from genrelab.audio import load
from genrelab.batch import genre_tag, write_genre
from genrelab.batch import tags as tags_module

SR = 22050
SIGNAL = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)


def _m4a(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=SR)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(SIGNAL[None, :], format="flt", layout="mono")
        frame.sample_rate = SR
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


WRITERS = {
    "wav": lambda p: sf.write(p, SIGNAL, SR),
    "flac": lambda p: sf.write(p, SIGNAL, SR),
    "ogg": lambda p: sf.write(p, SIGNAL, SR),
    "opus": lambda p: sf.write(p, SIGNAL, 48000, format="OGG", subtype="OPUS"),
    "mp3": lambda p: sf.write(p, SIGNAL, SR, format="MP3"),
    "m4a": _m4a,
}


TAG_KEYS = {"wav": "TCON", "mp3": "TCON", "m4a": "\xa9gen"}  # others: Vorbis comments


def _genre(path) -> list[str]:
    """The genre tag as read back by mutagen, independently of the code under test."""
    tags = mutagen.File(path).tags
    key = TAG_KEYS.get(path.suffix[1:], "genre")
    if tags is None or key not in tags:
        return []
    value = tags[key]
    return list(value.text if hasattr(value, "text") else value)


@pytest.mark.parametrize("ext", sorted(WRITERS))
def test_genre_is_written_and_the_audio_is_unchanged(ext, tmp_path):
    path = tmp_path / f"track.{ext}"
    WRITERS[ext](path)
    before, _ = load(path)

    preview = write_genre(path, "Hip-Hop", dry_run=True)
    assert (preview.action, preview.old) == ("would write", None)
    assert _genre(path) == []

    change = write_genre(path, "Hip-Hop")
    assert change.action == "written", change.reason
    assert _genre(path) == ["Hip-Hop"]
    after, _ = load(path)
    np.testing.assert_array_equal(after, before)

    again = write_genre(path, "Hip-Hop")
    assert (again.action, again.old) == ("unchanged", "Hip-Hop")
    assert write_genre(path, "Jazz").old == "Hip-Hop"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "no temporary files left"


def test_unsupported_formats_are_skipped_with_a_reason(tmp_path):
    path = tmp_path / "track.au"
    sf.write(path, SIGNAL, SR)
    original = path.read_bytes()
    change = write_genre(path, "Rock")
    assert change.action == "skipped" and ".au" in change.reason
    assert path.read_bytes() == original


def test_a_failed_check_leaves_the_original_untouched(tmp_path, monkeypatch):
    path = tmp_path / "track.flac"
    sf.write(path, SIGNAL, SR)
    original = path.read_bytes()
    lengths = iter([100, 200])  # the tagged copy "decodes" to a different length
    monkeypatch.setattr(tags_module, "_decoded_length", lambda _: next(lengths))
    change = write_genre(path, "Rock")
    assert change.action == "failed" and "does not decode to the same audio" in change.reason
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_gtzan_labels_get_standard_genre_names():
    assert genre_tag("hiphop") == "Hip-Hop"
    assert genre_tag("rock") == "Rock"
    assert genre_tag("k-pop") == "k-pop"
