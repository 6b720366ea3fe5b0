"""Wall time and peak RSS of classifying a 30 s clip, a 4-minute track and a folder of tracks.

Engines, each measured in its own fresh process (so peak RSS is that engine's own):

- ``default``: the default bundle (one log-mel pass, MSD and MTT musicnn through onnxruntime
  on 2 patches per 30 s window, all 10 when the track is a single window);
- ``musicnn-onnx``: MSD musicnn tags through onnxruntime over 3 s patches;
- ``ast-hf``: an AST-base-sized random transformer through the Hugging Face
  ``audio-classification`` pipeline over 10 s windows (needs torch + transformers).

Warm times exclude imports and model loading (one warm-up call first); the last rows time the
whole ``genrelab classify`` command as a fresh process, and peak RSS on a 60-minute file.

    python bench/classify.py                 # 200-track folder (slow for AST)
    python bench/classify.py --tracks 20     # a quicker run
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from genrelab import synth

SR = 22050
ENGINES = ("default", "musicnn-onnx", "ast-hf")
STYLES = ("rock", "classical", "disco", "ambient")


def write_song(path: Path, seconds: float, seed: int) -> Path:
    """A synthetic track written in 30 s blocks, so an hour never sits in memory."""
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        done = 0.0
        while done < seconds:
            chunk = min(30.0, seconds - done)
            f.write(
                synth.song(chunk, style=STYLES[(seed + int(done // 30)) % len(STYLES)], seed=seed)
            )
            done += chunk
    return path


def make_inputs(root: Path, tracks: int) -> dict[str, list[Path]]:
    folder = root / "folder"
    folder.mkdir()
    return {
        "30 s clip": [write_song(root / "clip.wav", 30, 1)],
        "4 min track": [write_song(root / "song.wav", 240, 2)],
        f"folder of {tracks}": [write_song(folder / f"t{i:03d}.wav", 30, i) for i in range(tracks)],
    }


def engine(name: str):
    """A callable ``path -> label`` for the engine, built once (model loading is not timed)."""
    if name == "default":
        from genrelab.pipeline import Classifier

        classifier = Classifier()
        return lambda path: classifier.classify(path).genre
    if name == "musicnn-onnx":
        from genrelab.audio import load
        from genrelab.pretrained.musicnn_onnx import MusicnnTagger

        tagger = MusicnnTagger("MSD_musicnn", backend="onnx")

        def tag(path):
            y, sr = load(path, sr=16000)
            return tagger.top_tags(y, sr, k=1)[0][0]

        return tag
    if name == "ast-hf":
        from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification, pipeline

        from genrelab.audio import fixed_windows, load

        extractor = ASTFeatureExtractor()
        model = ASTForAudioClassification(ASTConfig(num_labels=10)).eval()
        classify = pipeline(
            "audio-classification", model=model, feature_extractor=extractor, device="cpu"
        )
        rate = extractor.sampling_rate
        seconds = extractor.max_length * 0.01  # 1024 frames of 10 ms

        def run(path):
            y, _ = load(path, sr=rate)
            windows = [
                w.take(y) for w in fixed_windows(y.size, rate, seconds, min_last_s=seconds / 3)
            ]
            out = classify([{"raw": w, "sampling_rate": rate} for w in windows], top_k=1)
            return out[0][0]["label"]

        return run
    raise SystemExit(f"unknown engine {name}")


def child(name: str, inputs: dict[str, list[str]], warmup: str) -> None:
    run = engine(name)
    run(warmup)
    times = {}
    for label, paths in inputs.items():
        start = time.perf_counter()
        for path in paths:
            run(path)
        times[label] = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "rss_mb": rss_mb}))


def measure(name: str, inputs: dict[str, list[Path]], warmup: Path) -> dict | None:
    payload = json.dumps({k: [str(p) for p in v] for k, v in inputs.items()})
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, "--payload", payload, "--warmup", str(warmup)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print(
            f"{name}: failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}",
            file=sys.stderr,
        )
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: ``genrelab classify PATH`` in a fresh interpreter that reports its own peak RSS at exit.
_CLI = (
    "import atexit, resource, sys;"
    "atexit.register(lambda: print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr));"
    "from genrelab.cli import main; main(['classify', sys.argv[1]])"
)


def process_run(path: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a whole ``genrelab classify`` process."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CLI, str(path)], check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    rss = next(line for line in proc.stderr.splitlines()[::-1] if line.startswith("RSS "))
    return wall, int(rss.split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=200, help="tracks in the folder case")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument(
        "--hour", action=argparse.BooleanOptionalAction, default=True, help="also a 60-minute file"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--payload", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.payload), args.warmup)
        return

    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="genrelab-bench-") as tmp:
        root = Path(tmp)
        print("writing synthetic inputs ...", file=sys.stderr)
        inputs = make_inputs(root, args.tracks)
        warmup = write_song(root / "warmup.wav", 10, 99)
        results = {}
        for name in args.engines.split(","):
            print(f"measuring {name} ...", file=sys.stderr)
            results[name] = measure(name, inputs, warmup)

        table = Table(title="classify: warm wall time in-process (peak RSS of the process)")
        table.add_column("engine")
        for label in inputs:
            table.add_column(label, justify="right")
        table.add_column("peak RSS", justify="right")
        for name, res in results.items():
            if res is None:
                table.add_row(name, *["n/a"] * (len(inputs) + 1))
                continue
            cells = [f"{res['times'][label]:.2f} s" for label in inputs]
            table.add_row(name, *cells, f"{res['rss_mb']:.0f} MB")
        console = Console()
        console.print(table)

        proc = Table(title="whole process: genrelab classify (fresh interpreter, default model)")
        proc.add_column("input")
        proc.add_column("wall", justify="right")
        proc.add_column("peak RSS", justify="right")
        cases = [("30 s clip", inputs["30 s clip"][0]), ("4 min track", inputs["4 min track"][0])]
        if args.hour:
            cases.append(("60 min file", write_song(root / "hour.wav", 3600, 3)))
        for label, path in cases:
            wall, rss = process_run(path)
            proc.add_row(label, f"{wall:.2f} s", f"{rss:.0f} MB")
        console.print(proc)


if __name__ == "__main__":
    main()
