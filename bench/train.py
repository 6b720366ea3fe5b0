"""Seconds per training epoch and peak memory of every neural model family on one synthetic set.

Each model trains in a fresh process on the same windows (the default front end of the model,
random 3 s windows of synthetic songs, no augmentation), so the peak resident memory of that
process is the model's own; on a GPU the peak of allocated device memory is shown too. The
first epoch also pays for one-off set-up, so it is reported apart from the steady epochs.
Usage: ``python bench/train.py [--models cnn,crnn] [--epochs 3] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from genrelab import synth

SR = 22050
STYLES = ("rock", "classical", "disco", "ambient")
TRACKS_PER_STYLE = 4
TRACK_S = 12.0
WINDOW_S = 3.0
WINDOWS_PER_TRACK = 4
BATCH_SIZE = 16


def neural_models() -> list[str]:
    """The families of :mod:`genrelab.neural` that read audio (not feature vectors)."""
    from genrelab.models import available_models, model_class

    return [
        n
        for n in available_models()
        if model_class(n).__module__.startswith("genrelab.neural")
        and model_class(n).input_kind != "features"
    ]


def measure(name: str, epochs: int, device: str) -> dict[str, Any]:
    """Train ``name`` for ``epochs`` and time it (runs in its own process)."""
    import torch

    from genrelab.features.frontends import build_frontend
    from genrelab.models import create_model, model_class
    from genrelab.neural.data import WindowBatches
    from genrelab.neural.trainer import Trainer

    cls = model_class(name)
    frontend = build_frontend(
        {"kind": cls.input_kind, **cls.frontend_defaults, "duration": WINDOW_S}
    )
    tracks = [
        synth.song(TRACK_S, SR, style=style, seed=i)
        for style in STYLES
        for i in range(TRACKS_PER_STYLE)
    ]
    labels = np.repeat(np.arange(len(STYLES)), TRACKS_PER_STYLE)
    source = WindowBatches(tracks, labels, SR, WINDOW_S, frontend, BATCH_SIZE, 0, WINDOWS_PER_TRACK)
    started = time.perf_counter()
    for index in range(len(source)):
        source.batch(0, index)
    frontend_s = time.perf_counter() - started

    model = create_model(name, epochs=1, batch_size=BATCH_SIZE, device=device)
    model.setup(STYLES, source.batch(0, 0)[0])
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        Trainer(model, progress=False).fit(source)
        times.append(time.perf_counter() - start)
    cuda = torch.cuda.is_available() and model.torch_device.type == "cuda"
    return {
        "model": name,
        "input": f"{cls.input_kind} {'x'.join(map(str, model.input_shape_))}",
        "parameters": sum(p.numel() for p in model.module_.parameters()),
        "first_s": times[0],
        "epoch_s": float(np.mean(times[1:])) if len(times) > 1 else times[0],
        "frontend_s": frontend_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "device": str(model.torch_device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="Comma-separated names (default: every neural model).")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs timed per model (>= 2).")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto.")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else neural_models()
    console = Console(width=max(Console().width, 120))
    n_windows = len(STYLES) * TRACKS_PER_STYLE * WINDOWS_PER_TRACK
    table = Table(
        title=f"training cost per epoch: {n_windows} windows of {WINDOW_S:g} s, batch {BATCH_SIZE}",
        caption="first epoch includes one-off set-up; front end = making the epoch's inputs",
    )
    columns = (
        "model",
        "input",
        "params",
        "device",
        "1st epoch s",
        "s/epoch",
        "front end s",
        "peak RSS MB",
        "peak GPU MB",
    )
    for column in columns:
        left = column in ("model", "input")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    spawn = multiprocessing.get_context("spawn")
    for name in names:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            row = pool.submit(measure, name, max(2, args.epochs), args.device).result()
        console.print(f"{name}: {row['epoch_s']:.2f} s/epoch", highlight=False)
        table.add_row(
            row["model"],
            row["input"],
            f"{row['parameters'] / 1e6:.2f} M",
            row["device"],
            f"{row['first_s']:.2f}",
            f"{row['epoch_s']:.2f}",
            f"{row['frontend_s']:.2f}",
            f"{row['peak_rss_mb']:.0f}",
            "-" if row["peak_gpu_mb"] is None else f"{row['peak_gpu_mb']:.0f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
