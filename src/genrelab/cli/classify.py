"""``genrelab classify``: genre, confidence, top classes and a timeline for files or folders."""

from __future__ import annotations

import json
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from genrelab.cli.app import app
from genrelab.cli.common import err, out
from genrelab.errors import GenrelabError


class Aggregate(StrEnum):
    mean = "mean"
    vote = "vote"
    middle = "middle"


def collect_audio(paths: list[Path], recursive: bool) -> list[Path]:
    """Expand folders into their audio files (sorted); a missing path is a usage error."""
    from genrelab.data.datasets import AUDIO_EXTENSIONS

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(
                p
                for p in path.glob(pattern)
                if p.is_file()
                and p.suffix.lower() in AUDIO_EXTENSIONS
                and not p.name.startswith(".")
            )
            if not found:
                raise GenrelabError(
                    f"no audio files in {path}" + ("" if recursive else " (try --recursive)")
                )
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise GenrelabError(f"no such file or folder: {path}")
    return files


def example_track(directory: Path) -> Path:
    """Synthesise a 30 s example song, so the first run needs no file of the user's."""
    import soundfile as sf

    from genrelab import synth

    path = directory / "genrelab-example-rock.wav"
    sf.write(path, synth.song(30.0, style="rock", seed=7), 22050, subtype="PCM_16")
    return path


def _print_table(results: list[dict[str, Any]], top: int) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("genre", style="bold")
    table.add_column("confidence", justify="right")
    table.add_column(f"top {top}")
    for r in results:
        if "error" in r:
            continue
        ranked = sorted(r["probabilities"].items(), key=lambda kv: -kv[1])[:top]
        table.add_row(
            Path(r["path"]).name,
            r["genre"],
            f"{r['confidence']:.2f}",
            ", ".join(f"{g} {p:.2f}" for g, p in ranked),
        )
    out.print(table)


@app.command()
def classify(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Audio files and/or folders.", show_default=False)
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model bundle folder, or 'default'.")
    ] = "default",
    aggregate: Annotated[
        Aggregate,
        typer.Option(
            help="Combine windows by mean probability, majority vote, or use the middle window only."
        ),
    ] = Aggregate.mean,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document with all probabilities and the per-window timeline.",
        ),
    ] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")
    ] = False,
    top: Annotated[int, typer.Option(min=1, help="How many classes to show per file.")] = 3,
    example: Annotated[
        bool, typer.Option("--example", help="Classify a synthesised example track.")
    ] = False,
) -> None:
    """Classify audio files or whole folders (albums) by genre.

    Exits 0 when at least one file was classified, 1 when none could be, 2 on bad usage.
    Files that fail are reported one line each on stderr (and as "error" in --json).
    """
    from genrelab.inference import Classifier

    with tempfile.TemporaryDirectory(prefix="genrelab-") as tmp:
        inputs = list(paths or [])
        if example:
            inputs.append(example_track(Path(tmp)))
        if not inputs:
            raise GenrelabError("give audio files or folders to classify (or --example)")
        files = collect_audio(inputs, recursive)
        classifier = Classifier(model)
        results = _run(classifier, files, aggregate.value)
    failures = [r for r in results if "error" in r]
    for r in failures:
        err.print(f"genrelab: {r['error']}", highlight=False, soft_wrap=True)
    if as_json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(results, top)
    if len(failures) == len(results):
        raise typer.Exit(1)


def _run(classifier, files: list[Path], aggregate: str) -> list[dict[str, Any]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    if len(files) == 1:
        return list(classifier.classify_many(files, aggregate))
    columns = (TextColumn("classifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("classify", total=len(files))
        return list(
            classifier.classify_many(files, aggregate, on_result=lambda _: progress.advance(task))
        )
