"""Decode audio files to float32 numpy arrays, block by block, with soxr resampling.

libsndfile (``soundfile``) reads wav/flac/ogg/opus/mp3/aiff/au directly; PyAV (FFmpeg) covers
what it cannot (m4a/aac, wma, audio in video containers). Everything flows through
:func:`stream`, so an hour-long file needs one output array plus one block, never several full
copies, and :func:`load` is exactly the concatenation of :func:`stream`.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

from genrelab.errors import AudioError

if TYPE_CHECKING:
    import av

PathLike = str | os.PathLike[str]

#: File name extensions taken for audio when scanning folders.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".opus", ".mp3", ".au", ".snd", ".aiff", ".aif", ".m4a", ".aac"}
)

#: Largest sample magnitude accepted (60 dB over full scale). Float files may go a little
#: over 1.0 and are kept as decoded; beyond this the file is broken (e.g. ±1e30 samples), and
#: its features would overflow, so it is refused like a file with NaN or inf samples.
MAX_PEAK = 1000.0

#: Most samples :func:`load` preallocates from a header's length (1 GiB of float32).
MAX_PREALLOC = 2**28

#: Extensions libsndfile takes for MPEG audio whatever the content (see :func:`_sniff_mpeg`).
_MPEG_SUFFIXES = frozenset({".mp1", ".mp2", ".mp3"})

#: Serialises the brief silencing of file descriptor 2 (see :func:`_c_stderr_silenced`).
_STDERR_LOCK = threading.Lock()

#: Decoding block used by :func:`load` and by default in :func:`stream`.
BLOCK_SECONDS = 60.0

#: soxr quality; 'HQ' is what librosa's default ``res_type='soxr_hq'`` uses.
RESAMPLE_QUALITY = "HQ"

# libsndfile's Opus seek lands one pre-skip (312 samples) late; for lossy codecs decode and
# discard instead, which is exact.
_INEXACT_SEEK = {"OPUS", "VORBIS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}


@dataclass(frozen=True)
class AudioInfo:
    """What the header says, read without decoding the audio.

    ``frames`` is the header's count for files libsndfile reads and ``None`` for those decoded
    by PyAV, whose containers only give a duration (``None`` too when even that is unknown).
    """

    path: Path
    samplerate: int
    channels: int
    frames: int | None
    duration: float | None
    format: str
    codec: str


def info(path: PathLike) -> AudioInfo:
    """Sample rate, channels, length and format of ``path``; raises AudioError if unreadable."""
    p = _check_file(path)
    f = _open_sndfile(p)
    if f is not None:
        with f:
            return AudioInfo(
                p, f.samplerate, f.channels, f.frames, f.frames / f.samplerate, f.format, f.subtype
            )
    with _av_audio(p) as (container, st):
        if st.duration is not None:
            duration = float(st.duration * st.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000  # av.time_base: microseconds
        else:
            duration = None
        return AudioInfo(
            p, st.rate, st.channels, None, duration, container.format.name, st.codec_context.name
        )


def stream(
    path: PathLike,
    sr: int | None = None,
    mono: bool = True,
    block_seconds: float = BLOCK_SECONDS,
    *,
    offset: float = 0.0,
    duration: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield float32 blocks of about ``block_seconds`` (mono: ``(n,)``, else ``(channels, n)``).

    Resampling runs through one ``soxr.ResampleStream`` so the concatenated blocks equal
    :func:`load` exactly. The file is checked before this returns, so a missing or corrupt
    file raises here rather than on the first ``next()``.
    """
    meta = info(path)
    _check_request(meta, sr, block_seconds, offset, duration)
    return _stream(meta, sr or meta.samplerate, mono, block_seconds, offset, duration)


def load(
    path: PathLike,
    sr: int | None = None,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` like ``librosa.load``: float32, mono by channel average, soxr 'HQ'.

    Returns ``(y, sr)`` with ``y`` of shape ``(n,)`` or ``(channels, n)`` when ``mono=False``.
    The output is preallocated from the header so peak memory stays near one output copy.
    """
    meta = info(path)
    _check_request(meta, sr, BLOCK_SECONDS, offset, duration)
    target = sr or meta.samplerate
    blocks = _stream(meta, target, mono, BLOCK_SECONDS, offset, duration)
    lead = () if mono else (meta.channels,)
    # A header can declare any length (a FLAC's total can say 3 million seconds): trust it
    # for the preallocation only up to MAX_PREALLOC samples; longer real audio grows the array.
    expected = _expected_length(meta, target, offset, duration)
    capacity = min(expected, MAX_PREALLOC // (meta.channels if lead else 1))
    return _collect(blocks, lead, capacity), target


def _check_file(path: PathLike) -> Path:
    """``path`` as a Path if it is a non-empty regular file we may read; else a clear AudioError.

    Everything is decided from one ``stat`` (and one ``open`` for the permission), so a FIFO is
    never opened (that would block) and a symlink loop is named as such.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as err:
        raise AudioError(_stat_problem(p, err)) from err
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"{p} is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(
            f"{p} is not a regular file ({_file_kind(st.st_mode)}); give an audio file"
        )
    if st.st_size == 0:
        raise AudioError(f"{p} is empty (0 bytes)")
    try:
        os.close(os.open(p, os.O_RDONLY))
    except OSError as err:
        raise AudioError(_stat_problem(p, err)) from err
    return p


def _stat_problem(p: Path, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return f"{p} is a symbolic link loop (it never reaches a file)"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read {p}: permission denied"
    if err.errno == errno.ENOENT and p.is_symlink():
        return f"{p} is a broken symbolic link (its target {os.readlink(p)} does not exist)"
    if err.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"Audio file not found: {p}"
    return f"cannot read {p}: {err.strerror or err}"


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO / named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _not_audio(p: Path) -> str:
    return f"cannot decode {p}: not an audio file or corrupt"


def _open_sndfile(p: Path) -> sf.SoundFile | None:
    """libsndfile's handle on ``p``, or ``None`` when FFmpeg should try instead.

    libsndfile reads any bytes named ``.au``/``.snd`` as headerless u-law and any bytes named
    ``.mp3`` as MPEG (mpg123 then prints resync notes on stderr), so those guesses are refused:
    headerless RAW is never what a user means, and MPEG must start like MPEG.
    """
    mpeg = p.suffix.lower() in _MPEG_SUFFIXES
    if mpeg and not _sniff_mpeg(p):
        return None
    try:
        with _c_stderr_silenced() if mpeg else nullcontext():
            f = sf.SoundFile(p)
    except sf.SoundFileError:
        return None  # not a libsndfile format: ask FFmpeg
    if f.format == "RAW" or f.samplerate <= 0 or f.channels <= 0:
        f.close()
        return None
    return f


@contextmanager
def _c_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null while libsndfile opens an MP3.

    mpg123 prints warnings about damaged files ("Xing stream size off...") straight to the C
    stderr, which no Python setting reaches; the open takes milliseconds, and the failure, if
    any, is reported as one AudioError line instead. Other threads' stderr output in those
    milliseconds is lost, which is why only the open is wrapped.
    """
    with _STDERR_LOCK:
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 at all: nothing to silence
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _sniff_mpeg(p: Path) -> bool:
    """Whether ``p`` starts like MPEG audio: an ID3v2 tag or a frame header at byte 0."""
    with open(p, "rb") as fh:
        head = fh.read(4)
    if head[:3] == b"ID3":
        return True
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _check_request(
    meta: AudioInfo, sr: int | None, block_seconds: float, offset: float, duration: float | None
) -> None:
    if sr is not None and sr <= 0:
        raise ValueError(f"sample rate must be a positive integer, got {sr}")
    if block_seconds <= 0:
        raise ValueError(f"block_seconds must be > 0, got {block_seconds}")
    if offset < 0 or (duration is not None and duration <= 0):
        raise ValueError(f"need offset >= 0 and duration > 0, got {offset} and {duration}")
    if meta.frames == 0 or meta.duration == 0:
        raise AudioError(f"{meta.path} contains no audio (zero frames; empty or truncated)")
    if meta.duration is not None and offset >= meta.duration:
        raise AudioError(
            f"{meta.path}: offset {offset:.1f} s is past the end of its {meta.duration:.1f} s"
        )


def _stream(
    meta: AudioInfo,
    sr: int,
    mono: bool,
    block_seconds: float,
    offset: float,
    duration: float | None,
) -> Iterator[np.ndarray]:
    native = meta.samplerate
    start = round(offset * native)
    stop = None if duration is None else start + round(duration * native)
    block = max(1, round(block_seconds * native))
    channels = 1 if mono else meta.channels
    resampler = (
        None
        if sr == native
        else soxr.ResampleStream(native, sr, channels, dtype="float32", quality=RESAMPLE_QUALITY)
    )
    decoded = 0
    for x in _native_blocks(meta.path, start, stop, block):
        _check_samples(meta.path, x)
        decoded += len(x)
        y = x.mean(axis=1) if mono else x
        if resampler is not None:
            y = resampler.resample_chunk(y)
        if len(y):
            yield _channels_first(y)
    if decoded == 0:
        where = f" after {offset:.1f} s" if start else " (empty or truncated)"
        raise AudioError(f"{meta.path} contains no audio{where}")
    if resampler is not None:
        empty = np.zeros((0,) if mono else (0, channels), np.float32)
        tail = resampler.resample_chunk(empty, last=True)
        if len(tail):
            yield _channels_first(tail)


def _check_samples(path: Path, x: np.ndarray) -> None:
    """Refuse NaN/inf and absurd magnitudes (over ``MAX_PEAK``) before any maths warns on them."""
    if not x.size:
        return
    peak = float(np.max(np.abs(x)))  # NaN propagates through max
    if peak <= MAX_PEAK:
        return
    if not np.isfinite(peak):
        raise AudioError(f"{path} contains non-finite samples (NaN/inf); the file is corrupt")
    raise AudioError(
        f"{path} has samples of magnitude {peak:.3g}, over {MAX_PEAK:g} times full scale; "
        "the file is corrupt"
    )


def _channels_first(y: np.ndarray) -> np.ndarray:
    """soundfile and soxr use ``(frames, channels)``; librosa (and we) return the transpose."""
    return y if y.ndim == 1 else np.ascontiguousarray(y.T)


def _native_blocks(path: Path, start: int, stop: int | None, block: int) -> Iterator[np.ndarray]:
    """``(frames, channels)`` float32 blocks of the file's own rate, frames ``[start, stop)``."""
    f = _open_sndfile(path)
    if f is None:
        yield from _av_blocks(path, start, stop, block)
        return
    with f:
        base = 0 if f.subtype in _INEXACT_SEEK else start
        try:
            if base:  # even seek(0) shifts Opus, so only seek when skipping audio
                f.seek(base)
            chunks = _read_blocks(f, block)
            yield from _trim(chunks, start - base, None if stop is None else stop - base)
        except sf.SoundFileError as err:
            raise AudioError(f"{path} is truncated or corrupt (decoding failed part way)") from err


def _read_blocks(f: sf.SoundFile, block: int) -> Iterator[np.ndarray]:
    while len(data := f.read(block, dtype="float32", always_2d=True)):
        yield data


def _av_blocks(path: Path, start: int, stop: int | None, block: int) -> Iterator[np.ndarray]:
    import av

    with _av_audio(path) as (container, st):
        to_float = av.AudioResampler(format="fltp")  # any sample format -> planar float32
        frames = itertools.chain(container.decode(st), [None])  # None flushes the converter
        chunks = (out.to_ndarray().T for fr in frames for out in to_float.resample(fr))
        try:
            yield from _rebatch(_trim(chunks, start, stop), block)
        except av.FFmpegError as err:
            raise AudioError(f"{path} is truncated or corrupt (decoding failed part way)") from err


@contextmanager
def _av_audio(path: Path) -> Iterator[tuple[av.container.InputContainer, av.AudioStream]]:
    """FFmpeg's view of a file libsndfile cannot read (PyAV is imported only then)."""
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise AudioError(_not_audio(path)) from err
    with container:
        if not container.streams.audio:
            raise AudioError(
                f"{path} is not an audio file (no audio stream; looks like {container.format.name})"
            )
        st = container.streams.audio[0]
        if not st.rate or st.rate <= 0 or not st.channels:
            raise AudioError(_not_audio(path))
        yield container, st


def _trim(chunks: Iterable[np.ndarray], start: int, stop: int | None) -> Iterator[np.ndarray]:
    """Keep frames ``[start, stop)`` of a sequence of blocks, stopping early at ``stop``."""
    pos = 0
    for c in chunks:
        lo = max(start - pos, 0)
        hi = len(c) if stop is None else min(len(c), stop - pos)
        pos += len(c)
        if hi > lo:
            yield c[lo:hi]
        if stop is not None and pos >= stop:
            return


def _rebatch(chunks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Join FFmpeg's small frames into blocks of at least ``size`` so soxr gets big chunks."""
    pending: list[np.ndarray] = []
    count = 0
    for c in chunks:
        pending.append(c)
        count += len(c)
        if count >= size:
            yield np.concatenate(pending)
            pending, count = [], 0
    if count:
        yield np.concatenate(pending)


def _expected_length(meta: AudioInfo, sr: int, offset: float, duration: float | None) -> int:
    """Output length to preallocate: exact from a frame count, a generous guess otherwise."""
    native = meta.samplerate
    if meta.frames is not None:
        total, margin = meta.frames, 0
    else:
        total = round((meta.duration or 60.0) * native)
        margin = native  # FFmpeg durations are estimates (codec delay, padding): leave room
    n = total - round(offset * native)
    if duration is not None:
        n = min(n, round(duration * native))
    n = max(n, 0) + margin
    return (2 * n * sr + native) // (2 * native)  # soxr's output length: round half up


def _collect(blocks: Iterable[np.ndarray], lead: tuple[int, ...], capacity: int) -> np.ndarray:
    """Concatenate blocks into one preallocated array, growing only if the estimate was short."""
    out = np.empty((*lead, capacity), np.float32)
    pos = 0
    for b in blocks:
        n = b.shape[-1]
        if pos + n > out.shape[-1]:
            grown = np.empty((*lead, max(pos + n, out.shape[-1] * 3 // 2)), np.float32)
            grown[..., :pos] = out[..., :pos]
            out = grown
        out[..., pos : pos + n] = b
        pos += n
    return np.ascontiguousarray(out[..., :pos])
