"""Seconds per 30 s clip for every registered feature set and for the librosa calls of gtzan57.

The per-call rows and their total are the "straight librosa" cost that any faster gtzan57 must
beat. To time another implementation, add it to :func:`implementations`; registered sets
appear by themselves. Usage: ``python bench/features.py [--clips N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

from genrelab import synth
from genrelab.features import FEATURE_SETS
from genrelab.features.reference import PAD_MODE, hpss_signals

SHARED_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gtzan-dev"
SR = 22050
CLIP_S = 30.0

Timed = Callable[[np.ndarray, int], object]

_STFT = {"n_fft": 2048, "hop_length": 512, "pad_mode": PAD_MODE}

#: The librosa calls gtzan57 is made of, exactly as ``features.reference`` makes them.
LIBROSA_CALLS: dict[str, Timed] = {
    "librosa chroma_stft": lambda y, sr: librosa.feature.chroma_stft(y=y, sr=sr, **_STFT),
    "librosa rms": lambda y, sr: librosa.feature.rms(
        y=y, frame_length=2048, hop_length=512, pad_mode=PAD_MODE
    ),
    "librosa spectral_centroid": lambda y, sr: librosa.feature.spectral_centroid(
        y=y, sr=sr, **_STFT
    ),
    "librosa spectral_bandwidth": lambda y, sr: librosa.feature.spectral_bandwidth(
        y=y, sr=sr, **_STFT
    ),
    "librosa spectral_rolloff": lambda y, sr: librosa.feature.spectral_rolloff(y=y, sr=sr, **_STFT),
    "librosa zero_crossing_rate": lambda y, sr: librosa.feature.zero_crossing_rate(
        y, frame_length=2048, hop_length=512
    ),
    "librosa hpss (stft, hpss, 2 istft)": lambda y, sr: hpss_signals(y),
    "librosa beat_track": lambda y, sr: librosa.beat.beat_track(y=y, sr=sr, hop_length=512),
    "librosa mfcc": lambda y, sr: librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, **_STFT),
}


def implementations() -> dict[str, Timed]:
    """Whole feature extractors to compare with the straight librosa total."""
    return {f"set {name}": fs.fn for name, fs in FEATURE_SETS.items()}


def clips(n: int) -> tuple[list[np.ndarray], str]:
    """``n`` real dev clips spread over genres when the shared data is here, else synthetic."""
    if SHARED_DEV.is_dir():
        paths = sorted(
            SHARED_DEV.glob("*/*.wav"), key=lambda p: (p.stem.split(".")[1], p.parent.name)
        )
        return [sf.read(p, dtype="float32")[0] for p in paths[:n]], "GTZAN dev clips"
    styles = ("rock", "classical", "disco", "ambient")
    songs = [synth.song(CLIP_S, SR, style=styles[i % len(styles)], seed=i) for i in range(n)]
    return songs, "synthetic 30 s songs"


def per_clip_seconds(fn: Timed, signals: list[np.ndarray], repeats: int) -> float:
    """Median over repeats of the time per 30 s of audio."""
    audio_s = sum(len(y) for y in signals) / SR
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for y in signals:
            fn(y, SR)
        times.append((time.perf_counter() - start) * CLIP_S / audio_s)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3, help="clips per repeat (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats; the median is shown")
    args = parser.parse_args()
    if args.clips < 1 or args.repeats < 1:
        parser.error("--clips and --repeats must be at least 1")

    signals, source = clips(args.clips)
    console = Console()
    sections = [implementations(), LIBROSA_CALLS]
    with console.status("warming up (numba JIT, FFT plans)..."):
        for section in sections:
            for fn in section.values():
                fn(signals[0][: 5 * SR], SR)
    results: list[dict[str, float]] = []
    with console.status("timing...") as status:
        for section in sections:
            results.append({})
            for name, fn in section.items():
                status.update(f"timing {name}...")
                results[-1][name] = per_clip_seconds(fn, signals, args.repeats)
    straight = sum(results[-1].values())

    table = Table(
        title="Feature extraction: seconds per 30 s clip",
        caption=(
            f"{len(signals)} {source}, median of {args.repeats} repeats, after warm-up; "
            f"librosa {librosa.__version__}, {os.cpu_count()} CPUs"
        ),
    )
    table.add_column("what")
    table.add_column("s / clip", justify="right")
    table.add_column("vs straight librosa", justify="right")
    for section in results:
        for name, seconds in section.items():
            table.add_row(name, f"{seconds:.3f}", f"{seconds / straight:.2f}x")
        table.add_section()
    table.add_row("straight librosa total", f"{straight:.3f}", "1.00x", style="bold")
    console.print(table)


if __name__ == "__main__":
    main()
