"""A corpus of broken inputs: every one gives one clear line naming it, on the CLI and the API.

Each entry is generated here (no data files): random bytes under every audio extension, cut
files of each codec, lying headers, non-finite and absurd samples, too-short audio, and the
odd file-system entries a folder scan meets (FIFO, directory named like audio, looping and
broken links, an unreadable file, brackets and emoji in the name).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from genrelab import synth
from genrelab.audio import info, load
from genrelab.cli import main
from genrelab.errors import AudioError
from genrelab.service import ServiceSettings, background_server, create_app

SR = 22050
EXTENSIONS = ["wav", "flac", "ogg", "opus", "mp3", "au", "snd", "aiff", "aif", "m4a", "aac"]


def _encoded(fmt: str, subtype: str | None = None, seconds: float = 5.0, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, synth.song(seconds, sr=sr, seed=1), sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _float_wav(path: Path, poison: float) -> None:
    y = synth.song(5.0, seed=2)
    y[1000:3000:2] = poison
    y[1001:3000:2] = -poison
    sf.write(path, y, SR, subtype="FLOAT")


def _wav_with(fields: dict[int, bytes], data_bytes: int) -> bytes:
    """A 16-bit WAV whose header bytes at the given offsets are overwritten."""
    wav = bytearray(_encoded("WAV", "PCM_16"))
    for offset, value in fields.items():
        wav[offset : offset + len(value)] = value
    return bytes(wav[: 44 + data_bytes])


def _flac_claiming_a_month() -> bytes:
    """A 1 s FLAC whose STREAMINFO declares 2**36 - 1 samples (about 36 days at 22 kHz)."""
    flac = bytearray(_encoded("FLAC", seconds=1.0))
    info_block = 8  # "fLaC" + the metadata block header
    flac[info_block + 13] |= 0x0F
    flac[info_block + 14 : info_block + 18] = b"\xff\xff\xff\xff"
    return bytes(flac)


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not audio\n" * 200)
    return buf.getvalue()


def _build_corpus(root: Path) -> dict[str, str]:
    """Write the corpus into ``root``; returns each entry's name and a word its error has."""
    rng = np.random.default_rng(13)
    expect: dict[str, str] = {}

    def put(name: str, data: bytes, word: str) -> None:
        (root / name).write_bytes(data)
        expect[name] = word

    put("empty.wav", b"", "empty (0 bytes)")
    for ext in EXTENSIONS:
        put(f"random.{ext}", rng.bytes(20_000), "not an audio file or corrupt")
    put("cut.wav", _encoded("WAV")[:600], "s long; this model needs")
    put("cut.flac", _encoded("FLAC")[:300], "corrupt")
    put("cut.ogg", _encoded("OGG", "VORBIS")[:500], "not an audio file or corrupt")
    put("cut.opus", _encoded("OGG", "OPUS", sr=48000)[:400], "not an audio file or corrupt")
    put("cut.mp3", _encoded("MP3", "MPEG_LAYER_III")[:700], "s long; this model needs")
    put("wrong-header.wav", b"RIFF\x10\x00\x00\x00WAVEjunk" + rng.bytes(5000), "corrupt")
    put(
        "huge-sizes.wav",
        _wav_with({4: b"\xf0\xff\xff\xff", 40: b"\xf0\xff\xff\xff"}, 2000),
        "s long",
    )
    put(
        "absurd-format.wav",
        _wav_with({22: struct.pack("<H", 65535), 24: struct.pack("<I", 4_000_000_000)}, 10_000),
        "not an audio file or corrupt",
    )
    put("lying-length.flac", _flac_claiming_a_month(), "truncated or corrupt")
    for name, value in [("nan.wav", np.nan), ("inf.wav", np.inf)]:
        _float_wav(root / name, value)
        expect[name] = "contains non-finite samples (NaN/inf)"
    _float_wav(root / "1e30.wav", 1e30)
    expect["1e30.wav"] = "samples of magnitude 1e+30"
    sf.write(root / "silent.wav", np.zeros(5 * SR, np.float32), SR)
    expect["silent.wav"] = "no music detected (digital silence"
    sf.write(root / "tenth.wav", synth.song(0.1, seed=3), SR)
    expect["tenth.wav"] = "is 0.1 s long; this model needs at least 2.0 s"
    put("short.mp3", _encoded("MP3", "MPEG_LAYER_III", seconds=0.1), "s long; this model needs")
    put("page.mp3", b"<!doctype html><title>404</title>\n" * 40, "not an audio file or corrupt")
    put("image.flac", _png(), "not an audio file")
    put("archive.ogg", _zip(), "not an audio file or corrupt")
    put("weird [live] [b] ünï cödé 🎵.flac", b"hello\n" * 500, "not an audio file or corrupt")
    unreadable = root / "unreadable.wav"
    sf.write(unreadable, synth.song(3.0, seed=4), SR)
    unreadable.chmod(0)
    expect["unreadable.wav"] = "permission denied"
    os.mkfifo(root / "fifo.wav")
    expect["fifo.wav"] = "not a regular file (a FIFO / named pipe)"
    (root / "song.wav").mkdir()
    expect["song.wav"] = "is a directory"
    (root / "loop.wav").symlink_to("loop.wav")
    expect["loop.wav"] = "symbolic link loop"
    (root / "dangling.mp3").symlink_to("missing.mp3")
    expect["dangling.mp3"] = "broken symbolic link"
    return expect


def _root_reads_anyway(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return True
    except PermissionError:
        return False


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("broken")
    expect = _build_corpus(root)
    if _root_reads_anyway(root / "unreadable.wav"):  # root ignores permissions
        (root / "unreadable.wav").unlink()
        del expect["unreadable.wav"]
    return root, expect


def test_the_corpus_is_large_and_all_of_it_is_listed_by_a_folder_scan(corpus):
    from genrelab.cli.classify import collect_audio

    root, expect = corpus
    assert len(expect) >= 30
    assert sorted(p.name for p in collect_audio([root], recursive=True)) == sorted(expect)


def _cli(argv: list[str], capfd) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capfd.readouterr()  # file-descriptor level: C libraries' stderr included
    return exit_info.value.code, captured.out, captured.err


#: Given by name, a folder is scanned (and found empty) rather than decoded: a usage error.
DIRECT = {"song.wav": (2, "no audio files in")}


def test_each_broken_input_gives_one_line_naming_it(corpus, tiny_bundle, capfd):
    root, expect = corpus
    for name, word in expect.items():
        code, _, err = _cli(["classify", str(root / name), "-m", str(tiny_bundle)], capfd)
        lines = err.strip().splitlines()
        expected_code, word = DIRECT.get(name, (1, word))
        assert code == expected_code, (name, err)
        assert len(lines) == 1, (name, err)
        assert name in lines[0] and word in lines[0], (name, lines[0])
        assert "Traceback" not in err and "Warning" not in err


def test_a_folder_run_records_one_failure_per_entry_and_goes_on(corpus, tiny_bundle, capfd):
    root, expect = corpus
    good = root.parent / "with-good" / "good.wav"
    good.parent.mkdir(exist_ok=True)
    sf.write(good, synth.song(4.0, style="rock", seed=5), SR)
    code, out, err = _cli(
        ["classify", str(root), str(good.parent), "-m", str(tiny_bundle), "--json"], capfd
    )
    results = json.loads(out)
    assert code == 0, err  # one file classified: the run succeeded
    by_name = {Path(r["path"]).name: r for r in results}
    assert sorted(by_name) == sorted([*expect, "good.wav"])
    assert "genre" in by_name.pop("good.wav")
    for name, result in by_name.items():
        assert name in result["error"] and expect[name] in result["error"], result
    assert len(err.strip().splitlines()) == len(expect)
    assert "Traceback" not in err and "Warning" not in err


def test_hot_float_audio_is_classified_without_warnings(tiny_bundle, tmp_path, capfd):
    path = tmp_path / "odd.wav"
    sf.write(path, 2.0 * synth.song(3.0, seed=6), SR, subtype="FLOAT")  # peaks at 2x full scale
    code, out, err = _cli(["classify", str(path), "-m", str(tiny_bundle), "--json"], capfd)
    assert code == 0 and "genre" in json.loads(out)[0]
    assert err.strip() == ""


def test_silence_is_one_clear_line_not_a_genre(tiny_bundle, tmp_path, capfd):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(3 * SR, np.float32), SR)
    code, _out, err = _cli(["classify", str(path), "-m", str(tiny_bundle)], capfd)
    assert code == 1
    assert err.strip().splitlines() == [
        f"genrelab: {path}: no music detected (digital silence, below -60 dBFS)"
    ]


def test_permission_denied_is_named_as_such(tmp_path, monkeypatch):
    """The unreadable corpus entry is dropped when running as root; this check is not."""
    path = tmp_path / "locked.wav"
    sf.write(path, synth.song(1.0, seed=7), SR)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(AudioError, match=re.escape(f"cannot read {path}: permission denied")):
        info(path)


def test_absurd_samples_fail_before_any_maths_warns(tmp_path):
    path = tmp_path / "loud.wav"
    _float_wav(path, 1e30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AudioError, match="over 1000 times full scale"):
            load(path, sr=16000)


def test_a_lying_length_header_is_not_preallocated(tmp_path):
    path = tmp_path / "month.flac"
    path.write_bytes(_flac_claiming_a_month())
    assert info(path).duration > 30 * 86400
    with pytest.raises(AudioError, match=r"month\.flac is truncated or corrupt"):
        load(path, sr=SR)  # not a MemoryError for 256 GiB


# --- the HTTP API ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tiny_bundle, tmp_path_factory):
    settings = ServiceSettings(tmp_dir=tmp_path_factory.mktemp("bad-api"), warm_up=False)
    with TestClient(create_app(tiny_bundle, settings)) as test_client:
        yield test_client


def test_the_api_answers_each_uploadable_entry_with_a_json_4xx(corpus, client):
    root, expect = corpus
    uploadable = [n for n in expect if (root / n).is_file() and not (root / n).is_symlink()]
    assert len(uploadable) >= 25
    for name in uploadable:
        data = (root / name).read_bytes()
        response = client.post("/v1/classify", files={"file": (name, data)})
        assert 400 <= response.status_code < 500, (name, response.text)
        error = response.json()["error"]
        if data:  # an empty upload is refused before its name is read
            assert name in error, (name, error)
        assert str(root) not in error and "genrelab-uploads" not in error


def _multipart(name: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    """A one-file form as a browser sends it (the name as raw UTF-8)."""
    head = (
        f'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + data + b"\r\n--b0undary--\r\n"
    return body, {"Content-Type": "multipart/form-data; boundary=b0undary"}


def test_one_keep_alive_connection_survives_the_whole_corpus(corpus, tiny_bundle, tmp_path):
    """On a real server: each bad upload is a JSON 4xx naming it, and the very next request
    on the same connection is classified (200)."""
    root, expect = corpus
    good = io.BytesIO()
    sf.write(good, synth.song(3.0, style="rock", seed=8), SR, format="WAV")
    settings = ServiceSettings(tmp_dir=tmp_path, warm_up=False)
    with background_server(create_app(tiny_bundle, settings)) as url:
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.connect()
            sock = conn.sock
            names = [n for n in expect if (root / n).is_file() and not (root / n).is_symlink()]
            for name in names:
                conn.request("POST", "/v1/classify", *_multipart(name, (root / name).read_bytes()))
                response = conn.getresponse()
                status, answer = response.status, json.loads(response.read())
                assert 400 <= status < 500, (name, status, answer)
                assert (root / name).stat().st_size == 0 or name in answer["error"], answer
                conn.request("POST", "/v1/classify", *_multipart("good.wav", good.getvalue()))
                response = conn.getresponse()
                assert response.status == 200 and "genre" in json.loads(response.read()), name
                assert conn.sock is sock, f"the connection was closed after {name}"
        finally:
            conn.close()
