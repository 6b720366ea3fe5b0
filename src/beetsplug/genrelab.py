"""beets plugin: ``beet genrelab [QUERY]`` sets genres by listening to the files.

Where ``lastgenre`` asks Last.fm what people call an artist, this classifies the audio itself
with genrelab's models, through the batch engine that ``genrelab classify`` uses (worker
processes, a progress bar). Each item is stored the moment its result arrives, and items that
already carry ``genrelab_genre`` are skipped unless ``force`` is set, so an interrupted run
simply continues when started again.

Enable it with ``plugins: genrelab`` (``pip install genrelab[beets]``); options live under
``genrelab:`` in the beets config and on the command line (see the README's beets section).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from beets import config as beets_config
from beets import ui
from beets.dbcore import types
from beets.library import Album, Item
from beets.plugins import BeetsPlugin
from beets.util import displayable_path

if TYPE_CHECKING:
    from beets.importer import ImportSession, ImportTask
    from beets.library import LibModel, Library

    from genrelab.batch import Engine

#: How many genres ``genrelab_top`` lists.
TOP = 3

Probabilities = dict[str, float]

#: Shown with two decimals; absent (not 0.0) on items never classified.
CONFIDENCE = types.NullFloat(2)


@dataclass(frozen=True)
class Decision:
    """What one classification means for a beets object: its flexible attributes and genre."""

    label: str
    confidence: float
    top: list[tuple[str, float]]
    #: The genre to write (the user's spelling), or ``None`` when it is below min_confidence.
    genre: str | None
    tags: list[str] = field(default_factory=list)

    def attributes(self) -> dict[str, Any]:
        """The ``genrelab_*`` flexible attributes, for ``beet ls genrelab_confidence:0.8..``."""
        values: dict[str, Any] = {
            "genrelab_genre": self.label,
            "genrelab_confidence": round(self.confidence, 4),
            "genrelab_top": ", ".join(f"{label} {p:.2f}" for label, p in self.top),
        }
        if self.tags:
            values["genrelab_tags"] = ", ".join(self.tags)
        return values


def decide(
    probabilities: Mapping[str, float],
    *,
    mapping: Mapping[str, str] | None = None,
    min_confidence: float = 0.0,
    tags: Iterable[Any] = (),
) -> Decision:
    """Pick the genre from track (or album) probabilities under the user's options.

    ``labels`` were already applied by the engine (every window renormalised over them).

    ``mapping`` renames model labels into the user's taxonomy (e.g. ``hiphop: Hip-Hop``);
    unmapped labels are spelt as ``genrelab classify --write-tags`` spells them.
    """
    from genrelab.batch import genre_tag

    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    label, confidence = ranked[0]
    name = (mapping or {}).get(label) or genre_tag(label)
    return Decision(
        label=label,
        confidence=float(confidence),
        top=[(g, float(p)) for g, p in ranked[:TOP]],
        genre=name if confidence >= min_confidence else None,
        tags=[str(tag["tag"]) if isinstance(tag, dict) else str(tag) for tag in tags],
    )


def existing_genres(obj: LibModel) -> list[str]:
    """The object's current genre(s): beets 2's ``genres`` list, or the older ``genre``."""
    if "genres" in obj._fields:
        return [g for g in obj.get("genres") or [] if g]
    value = obj.get("genre")
    return [value] if value else []


def genre_fields(obj: LibModel, genre: str) -> dict[str, Any]:
    """The fixed genre field(s) this beets version has, set to ``genre``."""
    values: dict[str, Any] = {}
    if "genres" in obj._fields:
        values["genres"] = [genre]
    if "genre" in obj._fields:
        values["genre"] = genre
    return values


class GenrelabPlugin(BeetsPlugin):
    """``beet genrelab``, and optionally classification of every import."""

    item_types: ClassVar[dict[str, types.Type]] = {
        "genrelab_genre": types.STRING,
        "genrelab_confidence": CONFIDENCE,
        "genrelab_top": types.STRING,
        "genrelab_tags": types.STRING,
    }
    album_types: ClassVar[dict[str, types.Type]] = {
        "genrelab_genre": types.STRING,
        "genrelab_confidence": CONFIDENCE,
        "genrelab_top": types.STRING,
    }

    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "model": "default",
                "aggregate": "mean",
                "force": False,
                "min_confidence": 0.0,
                "map": {},
                "labels": [],
                "auto": False,
                "pretend": False,
                "album": False,
                "workers": 1,
                "tags": True,
            }
        )
        self._engine: Engine | None = None
        if self.config["auto"].get(bool):
            # After the importer has moved/copied the files, so tags go to the final files.
            self.register_listener("import_task_files", self.imported)

    # Options

    def _models(self) -> tuple[str, ...]:
        """Bundle paths (relative ones resolved against the beets config folder) or 'default'."""
        refs = []
        for ref in self.config["model"].as_str_seq(split=False):
            if ref == "default":
                refs.append(ref)
            else:
                path = Path(ref).expanduser()
                if not path.is_absolute():
                    path = Path(beets_config.config_dir()) / path
                refs.append(str(path.resolve()))
        return tuple(refs) or ("default",)

    def _labels(self) -> list[str]:
        value = self.config["labels"].get()
        if isinstance(value, str):  # from --labels a,b or "labels: a b"
            return [v for v in value.replace(",", " ").split() if v]
        return [str(v) for v in value or []]

    def _decide(self, probabilities: Mapping[str, float], tags: Iterable[Any] = ()) -> Decision:
        return decide(
            probabilities,
            mapping={str(k): str(v) for k, v in (self.config["map"].get(dict) or {}).items()},
            min_confidence=self.config["min_confidence"].as_number(),
            tags=tags,
        )

    def engine(self) -> Engine:
        """The loaded models (once per process); a bad model or label is a one-line error."""
        if self._engine is None:
            from genrelab.batch import EngineSpec, tagging_available
            from genrelab.errors import GenrelabError
            from genrelab.labels import parse_labels

            spec = EngineSpec(
                self._models(),
                self.config["aggregate"].as_choice(["mean", "vote", "middle"]),
                tags=self.config["tags"].get(bool) and tagging_available(),
                labels=parse_labels(self._labels()),
            )
            try:
                engine = spec.build()
            except GenrelabError as err:
                raise ui.UserError(f"genrelab: {err}") from err
            self._engine = engine
        return self._engine

    # Running the engine

    def classify(
        self, items: Sequence[Item], on_result: Callable[[int, dict[str, Any]], None]
    ) -> None:
        """Classify ``items`` with the batch engine, calling ``on_result(index, result)``.

        Results arrive in completion order; a failed file gives ``{"path", "error"}``.
        """
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        from genrelab.batch import iter_results

        if not items:
            return
        engine = self.engine()
        files = [os.fsdecode(item.path) for item in items]
        results = iter_results(
            engine.spec, files, workers=self.config["workers"].get(int), engine=engine
        )
        if len(files) <= 1 or not (sys.stdout.isatty() and sys.stderr.isatty()):
            for i, result in results:
                on_result(i, result)
            return
        columns = ("genrelab", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("classify", total=len(files))
            for i, result in results:
                on_result(i, result)
                progress.advance(task)

    def _skip(self, obj: LibModel) -> bool:
        """Already classified (an earlier or interrupted run), unless ``force``."""
        return "genrelab_genre" in obj and not self.config["force"].get(bool)

    def _failed(self, item: Item, result: Mapping[str, Any]) -> bool:
        if result.get("error"):
            self._log.warning("skipped {}: {}", displayable_path(item.path), result["error"])
            return True
        return False

    # Applying results

    def _update(self, obj: LibModel, decision: Decision, genre: str | None) -> None:
        """Set the ``genrelab_*`` attributes and, if given, the genre; print what changed."""
        values = decision.attributes()
        if "genrelab_tags" in obj and "genrelab_tags" not in values:
            del obj["genrelab_tags"]  # stale, from an earlier run with tags
        obj.update(values)
        if genre is not None:
            obj.update(genre_fields(obj, genre))
        ui.show_model_changes(obj)

    def _genre_to_set(self, obj: LibModel, decision: Decision) -> str | None:
        """The decided genre, unless it is below min_confidence or an existing one is kept."""
        if decision.genre is None:
            self._log.info(
                "{}: {} at {:.2f} is below min_confidence; genre left as is",
                obj,
                decision.label,
                decision.confidence,
            )
            return None
        if existing_genres(obj) and not self.config["force"].get(bool):
            return None
        return decision.genre

    def _save(self, obj: LibModel, write: bool) -> None:
        """Write the file's tags (through beets) first: if that fails, the library is untouched.

        With ``pretend`` nothing is saved.
        """
        if self.config["pretend"].get(bool):
            return
        if isinstance(obj, Album):
            obj.store(inherit=False)  # tracks are saved one by one, each with its own file
            return
        if write and not obj.try_write():  # beets has logged why
            self._log.warning(
                "{}: tags not written, library left unchanged", displayable_path(obj.path)
            )
            return
        obj.store()

    def tag_items(self, items: Sequence[Item], write: bool) -> None:
        """Per-item mode: every item gets its own genre."""
        todo = [item for item in items if not self._skip(item)]
        if len(todo) < len(items):
            self._log.info("{} already classified (use --force to redo)", len(items) - len(todo))

        def on_result(i: int, result: dict[str, Any]) -> None:
            item = todo[i]
            if not self._failed(item, result):
                decision = self._decide(result["probabilities"], result.get("tags") or [])
                self._update(item, decision, self._genre_to_set(item, decision))
                self._save(item, write)

        self.classify(todo, on_result)

    def tag_albums(self, albums: Sequence[Album], write: bool) -> None:
        """Album mode: the album's genre is the top of its tracks' mean distribution.

        Each track keeps its own ``genrelab_*`` attributes; a track gets the album's genre
        when the album's genre is set. An album is saved as soon as its last track is done.
        """
        todo = [album for album in albums if not self._skip(album)]
        if len(todo) < len(albums):
            self._log.info("{} already classified (use --force to redo)", len(albums) - len(todo))
        tracks = [list(album.items()) for album in todo]
        items = [item for album_items in tracks for item in album_items]
        owner = [n for n, album_items in enumerate(tracks) for _ in album_items]
        done: list[list[tuple[Item, dict[str, Any]]]] = [[] for _ in tracks]

        def on_result(i: int, result: dict[str, Any]) -> None:
            n = owner[i]
            done[n].append((items[i], result))
            if len(done[n]) == len(tracks[n]):
                self._finish_album(todo[n], done[n], write)

        self.classify(items, on_result)

    def _finish_album(
        self, album: Album, results: Sequence[tuple[Item, dict[str, Any]]], write: bool
    ) -> None:
        from genrelab.batch import summarise

        decisions = [
            (item, self._decide(result["probabilities"], result.get("tags") or []))
            for item, result in results
            if not self._failed(item, result)
        ]
        if not decisions:
            self._log.warning("skipped album {}: no track could be classified", album)
            return
        ok = [result for _, result in results if not result.get("error")]
        album_decision = self._decide(summarise(ok, self.engine().labels).distribution)
        genre = self._genre_to_set(album, album_decision)
        self._update(album, album_decision, genre)
        force = self.config["force"].get(bool)
        for item, decision in decisions:
            kept = existing_genres(item) and not force
            self._update(item, decision, None if kept else genre)
            self._save(item, write)
        # Last: until its tracks are saved, an interrupted album is redone by the next run.
        self._save(album, write)

    # beets hooks

    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("genrelab", help="set genres by classifying the audio")
        parser = cmd.parser
        parser.add_option(
            "-f",
            "--force",
            action="store_true",
            default=None,
            help="replace existing genres and classify again",
        )
        parser.add_option(
            "-p",
            "--pretend",
            action="store_true",
            default=None,
            help="show the changes, change nothing",
        )
        parser.add_option(
            "-a",
            "--album",
            action="store_true",
            default=None,
            help="classify albums: album genre from its tracks' distribution",
        )
        parser.add_option("-m", "--model", help="model bundle folder, or 'default'")
        parser.add_option(
            "--min-confidence",
            dest="min_confidence",
            type="float",
            help="write the genre only at or above this confidence",
        )
        parser.add_option("--labels", help="only these model labels, comma-separated")
        parser.add_option("-j", "--workers", type="int", help="worker processes")
        parser.add_option(
            "-w",
            "--write",
            action="store_true",
            default=None,
            help="write the genre to the files' tags",
        )
        parser.add_option(
            "-W",
            "--nowrite",
            action="store_false",
            dest="write",
            help="do not write tags (library only)",
        )

        def run(lib: Library, opts: Any, args: list[str]) -> None:
            write = ui.should_write(opts.write)
            if opts.model and opts.model != "default":  # relative to here, not the config
                opts.model = str(Path(opts.model).expanduser().resolve())
            self.config.set_args({k: v for k, v in vars(opts).items() if k != "write"})
            if self.config["album"].get(bool):
                self.tag_albums(list(lib.albums(args)), write)
            else:
                self.tag_items(list(lib.items(args)), write)

        cmd.func = run
        return [cmd]

    def imported(self, session: ImportSession, task: ImportTask) -> None:
        """``auto: yes``: classify each import once its files are in place.

        Tags are written when the import's ``write`` says so: an as-is import (``-A``) would
        otherwise never write them, as beets only writes tags it changed itself.
        """
        write = session.config["write"].get(bool)
        if task.is_album and self.config["album"].get(bool):
            self.tag_albums([task.album], write)
        else:
            self.tag_items(list(task.imported_items()), write)
