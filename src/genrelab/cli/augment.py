"""``genrelab augment-preview``: listen to and look at the training augmentations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genrelab.cli.app import app
from genrelab.cli.common import out


@app.command("augment-preview")
def augment_preview(
    path: Annotated[Path, typer.Argument(help="Audio file to augment.", show_default=False)],
    output: Annotated[Path, typer.Option("--out", "-o", help="Folder for the WAVs and figure.")],
    augment: Annotated[
        list[str] | None,
        typer.Option(
            help="Augmentation NAME[:KEY=VALUE...] (repeatable; default: each one alone)."
        ),
    ] = None,
    seconds: Annotated[
        float, typer.Option(min=0.5, help="Length of the excerpt taken from the middle.")
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed for the random parameters.")] = 0,
) -> None:
    """Write each augmented variant of a file as audio, and their mel spectrograms side by side."""
    from genrelab.audio import load, middle_window
    from genrelab.augment.preview import DEFAULT_SPECS, write_preview

    y, sr = load(path, sr=22050)
    excerpt = middle_window(y.size, sr, seconds).take(y)
    written = write_preview(excerpt, sr, output, augment or DEFAULT_SPECS, seed)
    out.print(f"{len(written) - 1} audio file(s) and [bold]{written[-1]}[/bold] written")
