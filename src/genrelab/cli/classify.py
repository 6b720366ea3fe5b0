"""``genrelab classify``: genre, confidence, top classes and a timeline for files or folders.

The same command tags whole libraries: ``-o results.csv`` (or .jsonl/.parquet) writes one
row per track through a journal that ``--resume`` continues after an interruption,
``--workers``/``--ray`` spread the work, ``--write-tags`` stores the genre in the files and
``--album`` prints an album's genre distribution.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from genrelab.aggregate import AGGREGATE_HELP, parse_aggregate
from genrelab.cli.app import app
from genrelab.cli.common import TrustBundle, TrustRemoteCode, allow_trust, err, out
from genrelab.errors import GenrelabError
from genrelab.pipeline.result import failed


def collect_audio(paths: list[Path], recursive: bool) -> list[Path]:
    """Expand folders into their audio entries (sorted); a missing path is a usage error.

    An entry named like audio that is not a readable file is kept, so it is reported as a
    failure rather than silently skipped; an explicit path that is a broken or looping
    symbolic link is kept for the same reason.
    """
    from genrelab.audio.scan import find_audio

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = find_audio(path, recursive)
            if not found:
                raise GenrelabError(
                    f"no audio files in {path}" + ("" if recursive else " (try --recursive)")
                )
            files += found
        elif path.exists() or path.is_symlink():
            files.append(path)
        else:
            raise GenrelabError(f"no such file or folder: {path}")
    return files


def example_track(directory: Path) -> Path:
    """Synthesise a 30 s example song, so the first run needs no file of the user's."""
    import soundfile as sf

    from genrelab import synth

    path = directory / "genrelab-example.wav"
    sf.write(path, synth.song(30.0, style="rock", seed=7), 22050, subtype="PCM_16")
    return path


def _print_table(results: list[dict[str, Any]], top: int) -> None:
    from rich.table import Table
    from rich.text import Text

    with_tags = any(r.get("tags") for r in results)
    table = Table(show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("genre", style="bold")
    table.add_column("confidence", justify="right")
    table.add_column(f"top {top}")
    if with_tags:
        table.add_column("tags")
    for r in results:
        if failed(r):
            continue
        ranked = sorted(r["probabilities"].items(), key=lambda kv: -kv[1])[:top]
        cells = [
            Text(Path(r["path"]).name),  # plain text: brackets in names are not markup
            r["genre"],
            f"{r['confidence']:.2f}",
            ", ".join(f"{g} {p:.2f}" for g, p in ranked),
        ]
        if with_tags:
            cells.append(", ".join(t["tag"] for t in r.get("tags") or []))
        table.add_row(*cells)
    out.print(table)


def _print_tag_changes(changes, console) -> None:
    from rich.table import Table

    table = Table(title="genre tags", title_justify="left")
    for column in ("file", "old", "new", "action"):
        table.add_column(column, overflow="fold")
    for c in changes:
        action = f"{c.action}: {c.reason}" if c.reason else c.action
        table.add_row(Path(c.path).name, c.old or "", c.new, action)
    console.print(table)


def _model_ref(model: str) -> str:
    """Bundle paths made absolute, so worker processes, Ray and --resume agree on them."""
    return model if model == "default" else str(Path(model).resolve())


@app.command()
def classify(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Audio files and/or folders.", show_default=False)
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model bundle folder, or 'default' (the default). Repeat for an ensemble: "
            "probabilities are averaged.",
            show_default=False,
        ),
    ] = None,
    aggregate: Annotated[
        str,
        typer.Option(help=AGGREGATE_HELP),
    ] = "mean",
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Answer over these of the model's labels only, probabilities renormalised: "
            "a comma-separated list (rock,jazz,classical) or a preset (gtzan: the 10 GTZAN "
            "genres).",
            show_default=False,
        ),
    ] = None,
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
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write one row per track (genre, confidence, probabilities, logits, error) "
            "to a .csv, .jsonl or .parquet file.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted --output run, skipping done files."),
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", "-j", min=1, help="Worker processes decoding in parallel.")
    ] = 1,
    use_ray: Annotated[
        bool, typer.Option("--ray", help="Run as a Ray Data pipeline (local Ray, or RAY_ADDRESS).")
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to join, e.g. ray://head:10001 (implies --ray).",
            show_default=False,
        ),
    ] = None,
    write_tags: Annotated[
        bool,
        typer.Option("--write-tags", help="Store the predicted genre in each file's genre tag."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --write-tags: show the changes, write nothing.")
    ] = False,
    album: Annotated[
        bool,
        typer.Option("--album", help="Also print the genre distribution over all the tracks."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --write-tags: also write read-only files.")
    ] = False,
    keep_existing: Annotated[
        bool,
        typer.Option("--keep-existing", help="With --write-tags: keep a genre already set."),
    ] = False,
    min_confidence: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="With --write-tags: only tag tracks at least this confident."
        ),
    ] = 0.0,
    genre_map: Annotated[
        str | None,
        typer.Option(
            help="With --write-tags: your own genre names, 'label=Tag,...' or a file of such "
            "lines (or a JSON object).",
            show_default=False,
        ),
    ] = None,
    trust_bundle: TrustBundle = False,
    trust_remote_code: TrustRemoteCode = False,
) -> None:
    """Classify audio files, whole folders or a whole library by genre.

    Exits 0 when at least one file was classified, 1 when none could be, 2 on bad usage.
    Files that fail are reported one line each on stderr (and as "error" in --json and in
    the output table).
    """
    from genrelab.batch import (
        EngineSpec,
        TagPolicy,
        parse_genre_map,
        tag_results,
        tagging_available,
    )
    from genrelab.batch.tags import clean_stale_temps
    from genrelab.batch.writers import check_output
    from genrelab.labels import parse_labels

    allow_trust(trust_bundle, trust_remote_code)
    use_ray = use_ray or ray_address is not None
    parse_aggregate(aggregate)  # a typo fails before any audio work
    tag_options = {
        "--dry-run": dry_run,
        "--force": force,
        "--keep-existing": keep_existing,
        "--min-confidence": min_confidence > 0,
        "--genre-map": genre_map is not None,
    }
    if not write_tags and any(tag_options.values()):
        used = next(name for name, given in tag_options.items() if given)
        raise GenrelabError(f"{used} applies to --write-tags; add --write-tags")
    if resume and output is None:
        raise GenrelabError("--resume needs --output: the journal lives beside the output file")
    if use_ray and workers > 1:
        raise GenrelabError("choose --workers or --ray, not both")
    if output is not None:
        check_output(output)
    models = tuple(_model_ref(m) for m in model or ["default"])
    tags = tagging_available() and output is None
    spec = EngineSpec(models, aggregate, tags=tags, labels=parse_labels(labels))
    with tempfile.TemporaryDirectory(prefix="genrelab-") as tmp:
        inputs = list(paths or [])
        if example:
            inputs.append(example_track(Path(tmp)))
        if not inputs:
            raise GenrelabError("give audio files or folders to classify (or --example)")
        files = collect_audio(inputs, recursive)
        engine = spec.build()
        policy = TagPolicy(
            force=force,
            keep_existing=keep_existing,
            min_confidence=min_confidence,
            genre_map=parse_genre_map(genre_map, engine.labels) if genre_map else {},
        )
        if write_tags and not dry_run:
            # A run killed while writing a file back leaves it half-written until its kept
            # copy is restored: restore before classifying, or the file reads as corrupt.
            clean_stale_temps({p.resolve().parent for p in files})
        results = _run(spec, engine, files, output, resume, workers, use_ray, ray_address)
        changes = tag_results(results, policy, dry_run=dry_run) if write_tags else []
    failures = [r for r in results if failed(r)]
    for r in failures:
        # markup=False: a file named "song [live].wav" must print as is, not as a style tag.
        err.print(f"genrelab: {r['error']}", highlight=False, soft_wrap=True, markup=False)
    _report(results, engine.labels, as_json=as_json, output=output, album=album, top=top)
    if changes:
        _print_tag_changes(changes, err if as_json else out)
    if len(failures) == len(results):
        raise typer.Exit(1)


def _report(
    results: list[dict[str, Any]],
    labels: list[str],
    *,
    as_json: bool,
    output: Path | None,
    album: bool,
    top: int,
) -> None:
    from genrelab.batch import album_table, summarise

    summary = summarise(results, labels) if album else None
    if as_json:
        document: Any = results
        if summary is not None:
            document = {"tracks": results, "album": summary.to_dict()}
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if output is not None:
        n_failed = sum(map(failed, results))
        err.print(
            f"wrote {len(results)} rows to {output} ({n_failed} failed)",
            highlight=False,
            soft_wrap=True,
        )
    elif not all(map(failed, results)):  # nothing classified: the error lines say it all
        _print_table(results, top)
    if summary is not None:
        title = f"album: {summary.tracks} tracks" + (
            f" ({summary.failed} failed)" if summary.failed else ""
        )
        out.print(album_table(summary, title))


def _run(
    spec,
    engine,
    files: list[Path],
    output: Path | None,
    resume: bool,
    workers: int,
    use_ray: bool,
    ray_address: str | None,
) -> list[dict[str, Any]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from genrelab.batch import run_batch

    def job(on_result=None) -> list[dict[str, Any]]:
        try:
            return run_batch(
                spec,
                files,
                output=output,
                resume=resume,
                workers=workers,
                use_ray=use_ray,
                ray_address=ray_address,
                engine=engine,
                on_result=on_result,
            )
        except KeyboardInterrupt:
            if output is not None:
                err.print(
                    "finished tracks are saved; rerun with --resume to continue", soft_wrap=True
                )
            raise

    if len(files) == 1:
        return job()
    columns = (
        TextColumn("classifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("classify", total=len(files))
        return job(on_result=lambda _: progress.advance(task))
