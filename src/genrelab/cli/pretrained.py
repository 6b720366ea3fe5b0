"""``genrelab tags`` (musicnn tags and timeline) and ``genrelab embed`` (cached embeddings)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from genrelab.cli.app import app
from genrelab.cli.common import err, out
from genrelab.errors import GenrelabError


class TagModel(StrEnum):
    MSD_musicnn = "MSD_musicnn"
    MTT_musicnn = "MTT_musicnn"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"


def _tag_text(tags: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {score:.2f}" for name, score in tags)


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{Path(report['path']).name} ({report['model']})", title_justify="left")
    table.add_column("segment")
    table.add_column("top tags")
    for seg in report["segments"]:
        table.add_row(f"{_clock(seg['start'])}-{_clock(seg['end'])}", _tag_text(seg["tags"]))
    table.add_section()
    table.add_row("[bold]whole track[/bold]", f"[bold]{_tag_text(report['tags'])}[/bold]")
    out.print(table)


def _expand(paths: list[Path], recursive: bool, results: list[dict[str, Any]]) -> list[Path]:
    """Audio files of every argument; a missing path or empty folder becomes an error entry."""
    from genrelab.cli.classify import collect_audio

    files = []
    for path in paths:
        try:
            files += collect_audio([path], recursive)
        except GenrelabError as error:
            results.append({"path": str(path), "error": str(error)})
            err.print(f"genrelab: {error}", highlight=False, soft_wrap=True)
    return files


@app.command()
def tags(
    paths: Annotated[list[Path], typer.Argument(help="Audio files and/or folders.")],
    model: Annotated[
        TagModel, typer.Option("--model", "-m", help="musicnn model: MSD (Last.fm) or MTT tags.")
    ] = TagModel.MSD_musicnn,
    top: Annotated[int, typer.Option(min=1, max=50, help="Tags shown per row.")] = 5,
    segment: Annotated[
        float | None,
        typer.Option(min=3.0, help="Timeline segment in seconds, rounded to whole 3 s patches."),
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")
    ] = False,
) -> None:
    """Describe audio with musicnn tags: a timeline and the whole track's top tags.

    Exits 0 when at least one file was tagged, 1 when none could be, 2 on bad usage.
    """
    from genrelab.pretrained.tagging import tag_file

    results: list[dict[str, Any]] = []
    for path in _expand(paths, recursive, results):
        try:
            results.append(tag_file(path, top, model.value, segment).to_dict())
        except GenrelabError as error:
            results.append({"path": str(path), "error": str(error)})
        except Exception as error:  # one bad file must never end a batch
            results.append({"path": str(path), "error": f"{path}: {type(error).__name__}: {error}"})
        if "error" in results[-1]:
            err.print(f"genrelab: {results[-1]['error']}", highlight=False, soft_wrap=True)
        elif not as_json:
            _print_report(results[-1])
    if as_json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    if all("error" in r for r in results):
        raise typer.Exit(1)


@app.command()
def embed(
    data: Annotated[str, typer.Option(help="Audio dataset: folder, GTZAN/FMA root or manifest.")],
    backbone: Annotated[
        str,
        typer.Option(help="musicnn-msd, musicnn-mtt, or a Hugging Face model id or local path."),
    ] = "musicnn-msd",
    layer: Annotated[
        str | None,
        typer.Option(
            help="musicnn: max_pool, mean_pool or penultimate; Hugging Face: hidden-state index."
        ),
    ] = None,
    pool: Annotated[str, typer.Option(help="Pool over patches/frames: mean, max, mean+std.")] = (
        "mean"
    ),
    with_tags: Annotated[
        bool, typer.Option("--tags", help="musicnn: append the pooled tag probabilities.")
    ] = False,
    window: Annotated[float, typer.Option(min=3.0, help="Window length in seconds.")] = 30.0,
    hop: Annotated[float | None, typer.Option(min=0.1, help="Window hop in seconds.")] = None,
    output: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Also write X, labels, groups and the spec to this .npz."),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Cache folder (default: the feature cache).")
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Parallel workers.")] = 1,
) -> None:
    """Compute and cache a backbone's embeddings of a dataset (one pooled row per window).

    Later runs (and training on the same embeddings) read the cache instead of the audio.
    """
    from genrelab.pretrained.embeddings import MUSICNN_BACKBONES, load_embedding_data

    options: dict[str, Any] = {"pool": pool}
    if backbone in MUSICNN_BACKBONES or backbone in MUSICNN_BACKBONES.values():
        options.update(layer=layer or "max_pool", tags=with_tags)
    else:
        if with_tags:
            raise GenrelabError("--tags applies to musicnn backbones only")
        if layer is not None:
            try:
                options["layer"] = int(layer)
            except ValueError:
                raise GenrelabError(
                    f"--layer for a Hugging Face model is an index, got {layer!r}"
                ) from None
    dataset = load_embedding_data(
        data,
        backbone,
        window_s=window,
        hop_s=hop,
        cache_dir=str(cache_dir) if cache_dir else None,
        n_jobs=jobs,
        **options,
    )
    for path, message in dataset.errors:
        err.print(f"genrelab: skipped {path}: {message}", highlight=False, soft_wrap=True)
    if output is not None:
        import numpy as np

        from genrelab.atomic import atomic_open

        with atomic_open(output, "wb") as fh:  # a file object: np.savez adds no ".npz"
            np.savez_compressed(
                fh,
                X=dataset.X,
                labels=dataset.labels,
                groups=dataset.groups,
                frontend=json.dumps(dataset.frontend),
            )
    out.print(
        f"{len(dataset.tracks)} tracks, {len(dataset.X)} windows x {dataset.X.shape[1]} values "
        f"({json.dumps(dataset.frontend)})"
        + (f"; written to [bold]{output}[/bold]" if output else "")
    )
