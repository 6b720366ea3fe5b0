"""Tracks per second of batch classification: one process, N worker processes, and Ray.

    python bench/batch.py [--tracks 16] [--seconds 10] [--workers 2] [--model default] [--no-ray]

All modes classify the same folder of synthetic tracks and must agree exactly. Times are
wall-clock for the whole job, start-up included (worker processes and Ray actors load the
model and warm up their JIT-compiled code); the one-process row has its model loaded and
warmed up beforehand, as in a long-running process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import soundfile as sf
from rich.console import Console
from rich.table import Table

from genrelab import synth
from genrelab.batch import EngineSpec, run_batch

STYLES = ("rock", "classical", "disco", "ambient")


def make_tracks(folder: Path, count: int, seconds: float) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"{i:03d}-{STYLES[i % len(STYLES)]}.wav"
        sf.write(path, synth.song(seconds, style=STYLES[i % len(STYLES)], seed=i), 22050)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="default")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray row")
    args = parser.parse_args()

    spec = EngineSpec((args.model,))
    rows = []
    with tempfile.TemporaryDirectory(prefix="genrelab-bench-") as tmp:
        files = make_tracks(Path(tmp), args.tracks, args.seconds)
        engine = spec.build()
        engine.classify(files[0])  # load and JIT warm-up, outside the timing
        runs = {
            "1 process": {"engine": engine},
            f"{args.workers} worker processes": {"workers": args.workers},
        }
        if not args.no_ray:
            runs["Ray (local)"] = {"use_ray": True}
        reference = None
        for name, options in runs.items():
            started = time.perf_counter()
            results = run_batch(spec, files, **options)
            wall = time.perf_counter() - started
            reference = reference or results
            rows.append((name, wall, len(files) / wall, results == reference))

    table = Table(title=f"{args.tracks} synthetic tracks of {args.seconds:g} s, model {args.model}")
    for column in ("mode", "wall s", "tracks/s", "identical to 1 process"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for name, wall, rate, same in rows:
        table.add_row(name, f"{wall:.1f}", f"{rate:.2f}", "yes" if same else "NO")
    Console().print(table)


if __name__ == "__main__":
    main()
