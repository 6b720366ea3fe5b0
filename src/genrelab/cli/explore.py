"""``genrelab explore``: look at audio before modelling it (waveforms, spectrograms, features)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genrelab.cli.app import app
from genrelab.cli.common import err, out
from genrelab.errors import DataError, GenrelabError


def _tracks(path: Path) -> list:
    """A file alone; a labelled dataset's files with their genres; else every audio file."""
    from genrelab.cli.classify import collect_audio
    from genrelab.data import load_dataset
    from genrelab.evaluation.eda import Track

    if not path.exists():
        raise GenrelabError(f"no such file or folder: {path}")
    if path.is_file():
        return [Track(path, "")]
    try:
        df = load_dataset(str(path))
    except DataError:
        return [Track(p, "") for p in collect_audio([path], recursive=True)]
    if df.empty or (df["path"] == "").all():
        raise DataError(f"{path}: no audio files to explore")
    return [Track(Path(p), str(label)) for p, label in zip(df["path"], df["label"], strict=True)]


@app.command()
def explore(
    path: Annotated[
        Path, typer.Argument(help="An audio file, or a folder (one sub-folder per genre).")
    ],
    output: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the figures and index.html.")
    ],
    seconds: Annotated[
        float, typer.Option(min=1.0, help="Seconds of each file to look at (the middle).")
    ] = 30.0,
    per_genre: Annotated[
        int, typer.Option(min=1, help="Files per genre in the spectrogram gallery.")
    ] = 4,
) -> None:
    """Exploratory figures: per file waveform, mel spectrogram, chroma, roll-off and ZCR; per
    folder a gallery of spectrograms and feature distributions by genre. PNGs + index.html."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from genrelab.evaluation.eda import explore as run_explore

    tracks = _tracks(path)
    failures: list[str] = []
    columns = (TextColumn("exploring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("explore", total=len(tracks))
        index = run_explore(
            tracks,
            output,
            title=f"genrelab explore: {path.name}",
            seconds=seconds,
            per_genre=per_genre,
            on_track=lambda: progress.advance(task),
            on_error=lambda p, message: failures.append(message),
        )
    for message in failures:
        err.print(f"genrelab: skipped {message}", highlight=False, soft_wrap=True)
    if len(failures) == len(tracks):
        raise DataError(f"no file in {path} could be decoded")
    out.print(f"{len(tracks) - len(failures)} file(s) explored; open [bold]{index}[/bold]")
