"""The same dev clip, transcoded to mp3, ogg and flac, gets the same genre from ``classify``."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from genrelab.cli import main


@pytest.mark.parametrize("clip", ["metal/metal.00000.wav", "classical/classical.00001.wav"])
def test_transcodes_get_the_same_genre(gtzan_dev, clip, tmp_path, capsys):
    source = gtzan_dev / clip
    y, sr = sf.read(source, dtype="float32")
    paths = [source]
    for ext, fmt, subtype in [
        ("mp3", "MP3", "MPEG_LAYER_III"),
        ("ogg", "OGG", "VORBIS"),
        ("flac", "FLAC", "PCM_16"),
    ]:
        path = tmp_path / f"{source.stem}.{ext}"
        sf.write(path, y, sr, format=fmt, subtype=subtype)
        paths.append(path)
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", "--json", *map(str, paths)])
    assert exit_info.value.code == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in results] == [str(p) for p in paths]
    genres = {r["genre"] for r in results}
    assert len(genres) == 1, [(r["path"], r["genre"], round(r["confidence"], 3)) for r in results]
    assert genres == {clip.split("/")[0]}
