"""genrelab.audio.io: every format decodes, resampling is right, bad files give one clear line."""

from __future__ import annotations

import re
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy import signal

from genrelab import synth
from genrelab.audio import info, load, stream
from genrelab.errors import AudioError

SR = 44100
LOSSLESS = ["wav", "flac", "aiff", "au"]
LOSSY = ["ogg", "mp3", "opus", "m4a"]
SF_SUBTYPE = {"ogg": "VORBIS"}
AV_CODEC = {"mp3": "libmp3lame", "opus": "libopus", "m4a": "aac"}

Writer = Callable[[str, np.ndarray, int], Path]


def _stereo(seconds: float, sr: int = SR) -> np.ndarray:
    """``(2, n)`` float32 music with different channels, so downmixing is observable."""
    return np.stack([synth.song(seconds, sr, "rock", 1), synth.song(seconds, sr, "disco", 2)])


def _av_write(path: Path, y: np.ndarray, sr: int, codec: str) -> None:
    try:
        av.Codec(codec, "w")
    except av.FFmpegError:
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    layout = "stereo" if y.shape[0] == 2 else "mono"
    with av.open(str(path), "w") as container:
        st = container.add_stream(codec, rate=48000 if codec == "libopus" else sr, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y), format="fltp", layout=layout)
        frame.sample_rate = sr
        for packet in [*st.encode(frame), *st.encode(None)]:
            container.mux(packet)


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """Write ``(channels, n)`` audio as ``tone.<ext>``: soundfile where it can, else PyAV."""

    def _write(ext: str, y: np.ndarray, sr: int = SR) -> Path:
        path = tmp_path / f"tone.{ext}"
        if ext in AV_CODEC:
            _av_write(path, y, sr, AV_CODEC[ext])
        else:
            sf.write(path, y.T, sr, subtype=SF_SUBTYPE.get(ext))
        return path

    return _write


def _aligned_correlation(ref: np.ndarray, y: np.ndarray, max_lag: int = 4096) -> float:
    """Pearson correlation after removing the codec delay (found by cross-correlation)."""
    xc = signal.correlate(y, ref, mode="full", method="fft")
    lags = signal.correlation_lags(len(y), len(ref), mode="full")
    ok = np.abs(lags) <= max_lag
    lag = int(lags[ok][np.argmax(xc[ok])])
    a, b = (ref, y[lag:]) if lag >= 0 else (ref[-lag:], y)
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


@pytest.mark.parametrize("ext", LOSSLESS + LOSSY)
def test_every_format_decodes_close_to_the_original(write: Writer, ext: str) -> None:
    original = _stereo(3.0)
    path = write(ext, original)

    meta = info(path)
    y, sr = load(path, sr=SR)

    assert meta.channels == 2
    assert meta.samplerate == (48000 if ext == "opus" else SR)
    assert meta.duration == pytest.approx(3.0, abs=0.05)
    assert sr == SR and y.dtype == np.float32 and y.ndim == 1
    assert len(y) == pytest.approx(3.0 * SR, abs=0.05 * SR)
    mono = original.mean(axis=0)
    if ext in LOSSLESS:
        assert meta.frames == original.shape[1]
        np.testing.assert_allclose(y, mono, atol=1e-4)
    else:
        assert _aligned_correlation(mono, y) > 0.95


def test_info_reports_format_codec_and_frames(write: Writer) -> None:
    wav = info(write("wav", _stereo(1.0)))
    m4a = info(write("m4a", _stereo(1.0)))

    assert (wav.format, wav.codec, wav.frames, wav.duration) == ("WAV", "PCM_16", SR, 1.0)
    assert (m4a.codec, m4a.frames) == ("aac", None)  # FFmpeg containers only give a duration
    assert m4a.duration == pytest.approx(1.0, abs=0.05)


def test_mono_averages_channels_and_stereo_is_channels_first(write: Writer) -> None:
    original = _stereo(1.0)
    path = write("wav", original)

    mono, _ = load(path)
    both, _ = load(path, mono=False)

    assert both.shape == original.shape and both.dtype == np.float32
    np.testing.assert_allclose(both, original, atol=1e-4)
    np.testing.assert_allclose(mono, both.mean(axis=0), atol=1e-7)


def test_resampling_keeps_a_1khz_sine_and_matches_soxr_hq(write: Writer) -> None:
    tone = synth.tone(1000.0, 2.0, SR)
    path = write("wav", tone[None, :])

    y, sr = load(path, sr=22050)

    assert sr == 22050 and len(y) == len(tone) // 2
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    assert freqs[np.argmax(np.abs(np.fft.rfft(y)))] == pytest.approx(1000.0, abs=1.0)
    native, _ = sf.read(path, dtype="float32")
    np.testing.assert_allclose(y, soxr.resample(native, SR, 22050, "HQ"), atol=1e-6)


@pytest.mark.parametrize("ext", ["wav", "m4a"])
def test_stream_blocks_concatenate_to_load(write: Writer, ext: str) -> None:
    path = write(ext, _stereo(4.3))

    blocks = list(stream(path, sr=22050, block_seconds=0.37))
    stereo = list(stream(path, sr=22050, mono=False, block_seconds=0.37))
    y, _ = load(path, sr=22050)
    y2, _ = load(path, sr=22050, mono=False)

    assert len(blocks) > 10 and all(b.dtype == np.float32 for b in blocks)
    assert max(len(b) for b in blocks) < 0.5 * 22050  # blocks really are about 0.37 s
    np.testing.assert_allclose(np.concatenate(blocks), y, atol=1e-4)
    assert all(b.shape[0] == 2 for b in stereo)
    np.testing.assert_allclose(np.concatenate(stereo, axis=1), y2, atol=1e-4)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "opus", "m4a"])
def test_offset_and_duration_cut_the_same_samples_as_slicing(write: Writer, ext: str) -> None:
    path = write(ext, _stereo(3.0))
    full, sr = load(path)

    part, _ = load(path, offset=1.0, duration=1.5)

    np.testing.assert_array_equal(part, full[sr : sr + round(1.5 * sr)])


def test_silence_is_valid_audio(write: Writer) -> None:
    y, sr = load(write("wav", np.zeros((1, SR), np.float32)), sr=22050)

    assert sr == 22050 and len(y) == 22050 and not y.any()


def test_truncated_wav_loads_the_frames_that_are_there(write: Writer, tmp_path: Path) -> None:
    original = _stereo(2.0)
    data = write("wav", original).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])

    y, _ = load(cut)

    assert 0.45 * SR < len(y) < 0.55 * 2 * SR
    np.testing.assert_allclose(y, original.mean(axis=0)[: len(y)], atol=1e-4)


def _png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 20))
        + chunk(b"IEND", b"")
    )


def _bad_file(kind: str, tmp_path: Path, write: Writer) -> Path:
    """Make one kind of unusable input and return its path."""
    rng = np.random.default_rng(0)
    good = write("wav", _stereo(1.0))
    path = tmp_path / f"bad-{kind}.wav"
    if kind == "missing":
        return tmp_path / "nope.wav"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    elif kind == "zero_frames":
        sf.write(path, np.zeros((0, 1), np.float32), SR)
    elif kind == "garbage_after_header":
        path.write_bytes(good.read_bytes()[:12] + rng.bytes(20_000))
    elif kind == "random_bytes":
        path = tmp_path / "noise.bin"
        path.write_bytes(rng.bytes(30_000))
    elif kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("not audio\n" * 100)
    elif kind == "png":
        path.write_bytes(_png())
    elif kind == "nan":
        sf.write(path, np.array([0.0, np.nan, 0.1, np.inf], np.float32), SR, subtype="FLOAT")
    elif kind == "truncated_flac":
        flac = write("flac", _stereo(3.0)).read_bytes()
        path = tmp_path / "cut.flac"
        path.write_bytes(flac[: len(flac) // 2])
    return path


BAD = [
    "missing",
    "directory",
    "empty",
    "zero_frames",
    "garbage_after_header",
    "random_bytes",
    "text",
    "png",
    "nan",
    "truncated_flac",
]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_raises_one_line_audio_error_naming_the_file(
    kind: str, tmp_path: Path, write: Writer
) -> None:
    path = _bad_file(kind, tmp_path, write)

    with pytest.raises(AudioError, match=re.escape(str(path))) as err:
        load(path, sr=22050)
    with pytest.raises(AudioError, match=re.escape(str(path))):
        list(stream(path, sr=22050))

    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "random_bytes", "png"])
def test_stream_and_info_raise_before_decoding(kind: str, tmp_path: Path, write: Writer) -> None:
    path = _bad_file(kind, tmp_path, write)

    with pytest.raises(AudioError, match=re.escape(str(path))):
        info(path)
    with pytest.raises(AudioError):
        stream(path)  # no next(): the check is eager


def test_offset_past_the_end_is_an_audio_error(write: Writer) -> None:
    path = write("wav", _stereo(1.0))

    with pytest.raises(AudioError, match=r"offset 5\.0 s is past the end of its 1\.0 s"):
        load(path, offset=5.0)


def test_long_file_loads_with_about_one_output_copy_of_memory(tmp_path: Path) -> None:
    path = tmp_path / "ten_minutes.wav"
    minute = np.random.default_rng(0).uniform(-0.5, 0.5, (60 * SR, 2)).astype(np.float32)
    with sf.SoundFile(path, "w", SR, 2, "PCM_16") as f:
        for _ in range(10):
            f.write(minute)
    del minute

    tracemalloc.start()
    try:
        y, _ = load(path, sr=22050)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(y) == 600 * 22050
    assert peak < 2.5 * y.nbytes


def test_real_gtzan_clip_matches_soundfile_exactly(gtzan_dev: Path) -> None:
    path = gtzan_dev / "blues" / "blues.00000.wav"

    y, sr = load(path, sr=22050)

    assert sr == 22050 and len(y) == 661_794 and info(path).frames == 661_794
    np.testing.assert_array_equal(y, sf.read(path, dtype="float32")[0])
