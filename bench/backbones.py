"""Seconds of audio processed per second: musicnn (ONNX and PyTorch) and an AST-base-sized model.

Every backbone gets the same signal through the same embedding path that ``genrelab embed``
and the front ends use: 30 s windows at the backbone's rate, cut into the backbone's own
inputs (musicnn: 3 s patches; AST: 10.24 s chunks), pooled per window. The AST has
``ASTConfig()``'s default (base) size with random weights, saved to a temporary folder and
loaded through ``from_pretrained`` like any hub id, so nothing is downloaded; speed does not
depend on the weights. Usage: ``python bench/backbones.py [--seconds 120] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.table import Table

from genrelab import synth
from genrelab.audio import fixed_windows

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WINDOW_S = 30.0
Embed = Callable[[list[np.ndarray], int], np.ndarray]


def musicnn(backend: str) -> tuple[Embed, int]:
    from genrelab.pretrained.embeddings import MusicnnEmbedder

    return MusicnnEmbedder(layer="max_pool", tags=True, backend=backend), 16000


def ast_base(folder: str) -> tuple[Embed, int]:
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    from genrelab.pretrained.hf import HFEmbedder

    # transformers' NumPy filterbank warns that AST's 128 mel bands leave one empty; harmless
    warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
    ASTModel(ASTConfig()).save_pretrained(folder)
    ASTFeatureExtractor().save_pretrained(folder)
    return HFEmbedder(folder), 16000


def speed(embed: Embed, sr: int, y: np.ndarray, repeats: int) -> tuple[float, int]:
    """Best-of-``repeats`` audio seconds per wall-clock second, and the windows per run."""
    windows = [w.take(y) for w in fixed_windows(len(y), sr, WINDOW_S)]
    embed(windows[:1], sr)  # warm-up: sessions, weights, first-call allocations
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        embed(windows, sr)
        best = min(best, time.perf_counter() - started)
    return len(y) / sr / best, len(windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="audio length per run")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    table = Table(title=f"{args.seconds:.0f} s of audio in {WINDOW_S:.0f} s windows")
    for column in ("backbone", "input", "windows", "audio s / s", "real-time factor"):
        table.add_column(column, justify="left" if column in ("backbone", "input") else "right")
    with tempfile.TemporaryDirectory() as folder:
        runs = {
            "musicnn MSD (onnxruntime)": (lambda: musicnn("onnx"), "3 s patches"),
            "musicnn MSD (PyTorch)": (lambda: musicnn("torch"), "3 s patches"),
            "AST base, random init (transformers)": (lambda: ast_base(folder), "10.24 s chunks"),
        }
        for name, (build, unit) in runs.items():
            embed, sr = build()
            y = synth.song(args.seconds, sr=sr, style="rock", seed=0)
            rate, n = speed(embed, sr, y, args.repeats)
            table.add_row(name, unit, str(n), f"{rate:.1f}", f"{1 / rate:.4f}")
    Console().print(table)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
