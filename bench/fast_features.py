"""Seconds per 30 s clip: reference vs fast GTZAN features, per component and in total.

    python bench/fast_features.py [--clip PATH] [--repeats 5]

Times are warm medians, wall-clock and CPU, over ``--repeats`` interleaved runs (each
component runs once before timing). The fast components start from the shared STFT, timed
on its own row. The last row times a fresh Python process that imports the module and
computes one clip, which is what a short CLI run pays. The clip is a GTZAN dev clip when
``../shared/data`` is there, else a synthetic 30 s song.

On a busy machine run it with ``OPENBLAS_NUM_THREADS=1``: BLAS threads that wait for a core
inflate the small matrix products (chroma, mel) of both versions, the fast one's most.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

from genrelab import synth
from genrelab.features import _hpss, fast, reference

DEV_CLIP = Path(__file__).resolve().parents[1].parent / "shared/data/gtzan-dev/rock/rock.00000.wav"
N_FFT, HOP = 2048, 512

COLD = """
import sys, time
t0 = time.perf_counter()
import soundfile as sf
from genrelab.features import {module}
y, sr = sf.read(sys.argv[1], dtype="float32")
{module}.gtzan_features(y, sr)
print(time.perf_counter() - t0)
"""


def _median_times(fns: list[Callable[[], object]], repeats: int) -> list[tuple[float, float]]:
    """Median wall-clock and CPU seconds of each ``fn()``, runs interleaved.

    Interleaving exposes every function to the same background load on a shared machine.
    """
    for fn in fns:
        fn()
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[i].append(time.perf_counter() - start)
            cpu[i].append(time.process_time() - start_cpu)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu, strict=True)]


def _cold_start(module: str, clip: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", COLD.format(module=module), str(clip)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEV_CLIP if DEV_CLIP.exists() else None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.clip is None:
        sr = 22050
        y = synth.song(30.0, sr=sr, style="rock", seed=0)
        clip = Path("/tmp/genrelab_bench_clip.wav")
        sf.write(clip, y, sr)
    else:
        clip = args.clip
        y, sr = sf.read(clip, dtype="float32")

    stft_kw = {"n_fft": N_FFT, "hop_length": HOP, "pad_mode": reference.PAD_MODE}
    stft, mag, power = fast.spectrogram(y, n_fft=N_FFT, hop_length=HOP)
    rows: list[tuple[str, Callable[[], object] | None, Callable[[], object]]] = [
        ("shared STFT", None, lambda: fast.spectrogram(y, n_fft=N_FFT, hop_length=HOP)),
        (
            "chroma",
            lambda: librosa.feature.chroma_stft(y=y, sr=sr, **stft_kw),
            lambda: fast.chroma(power, sr, N_FFT),
        ),
        (
            "rms",
            lambda: librosa.feature.rms(
                y=y, frame_length=N_FFT, hop_length=HOP, pad_mode="reflect"
            ),
            lambda: librosa.feature.rms(
                y=y, frame_length=N_FFT, hop_length=HOP, pad_mode="reflect"
            ),
        ),
        (
            "centroid/bandwidth/rolloff",
            lambda: [
                f(y=y, sr=sr, **stft_kw)
                for f in (
                    librosa.feature.spectral_centroid,
                    librosa.feature.spectral_bandwidth,
                    librosa.feature.spectral_rolloff,
                )
            ],
            lambda: fast.spectral_shape(mag, sr, N_FFT),
        ),
        (
            "zero crossings",
            lambda: librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP),
            lambda: fast.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP),
        ),
        (
            "HPSS",
            lambda: reference.hpss_signals(y, n_fft=N_FFT, hop_length=HOP),
            lambda: _hpss.hpss_signals(stft, mag, y.size, n_fft=N_FFT, hop_length=HOP),
        ),
        (
            "tempo",
            lambda: librosa.beat.beat_track(y=y, sr=sr, hop_length=HOP),
            lambda: fast.tempo(y, sr, power, hop_length=HOP),
        ),
        (
            "MFCC",
            lambda: librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, **stft_kw),
            lambda: fast.mfcc(power, sr, N_FFT),
        ),
        (
            "total (57 features)",
            lambda: reference.gtzan_features(y, sr),
            lambda: fast.gtzan_features(y, sr),
        ),
    ]
    table = Table(title=f"GTZAN features, {y.size / sr:.1f} s clip, warm median of {args.repeats}")
    columns = (
        "component",
        "reference s",
        "fast s",
        "speed-up",
        "ref CPU s",
        "fast CPU s",
        "CPU speed-up",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "component" else "right")
    for name, ref_fn, fast_fn in rows:
        if ref_fn is None:
            [fast_t] = _median_times([fast_fn], args.repeats)
            table.add_row(name, "-", f"{fast_t[0]:.4f}", "-", "-", f"{fast_t[1]:.4f}", "-")
            continue
        ref_t, fast_t = _median_times([ref_fn, fast_fn], args.repeats)
        cells = [
            (f"{r:.4f}", f"{f:.4f}", f"{r / f:.1f}x") for r, f in zip(ref_t, fast_t, strict=True)
        ]
        table.add_row(name, *cells[0], *cells[1])
    cold = {module: _cold_start(module, clip) for module in ("reference", "fast")}
    ratio = cold["reference"] / cold["fast"]
    table.add_row(
        "cold process (import + 1 clip)",
        f"{cold['reference']:.2f}",
        f"{cold['fast']:.2f}",
        f"{ratio:.1f}x",
    )
    theirs, ours = reference.gtzan_features(y, sr), fast.gtzan_features(y, sr)
    mfcc = np.array([name.startswith("mfcc") for name in reference.GTZAN_FEATURE_NAMES])
    same = np.array_equal(theirs[~mfcc], ours[~mfcc])
    drift = np.max(np.abs(ours[mfcc] - theirs[mfcc]) / np.maximum(np.abs(theirs[mfcc]), 1e-12))
    console = Console(width=120)
    console.print(table)
    console.print(
        f"fast values identical to the reference except the 40 MFCC statistics: {same}; "
        f"MFCC largest relative difference {drift:.1e} (float32 DCT rounding)"
    )


if __name__ == "__main__":
    main()
