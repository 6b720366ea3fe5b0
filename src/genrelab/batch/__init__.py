"""Library-scale classification: parallel and Ray runs, resumable tables, tag writing, albums."""

from genrelab.batch.album import AlbumSummary, album_table, summarise
from genrelab.batch.engine import Engine, EngineSpec
from genrelab.batch.runner import iter_results, run_batch
from genrelab.batch.tags import (
    TagChange,
    TagPolicy,
    genre_tag,
    parse_genre_map,
    tag_results,
    write_genre,
)
from genrelab.batch.writers import FORMATS, journal_path, read_table, write_table
from genrelab.pipeline.tags import tagging_available

__all__ = [
    "FORMATS",
    "AlbumSummary",
    "Engine",
    "EngineSpec",
    "TagChange",
    "TagPolicy",
    "album_table",
    "genre_tag",
    "iter_results",
    "journal_path",
    "parse_genre_map",
    "read_table",
    "run_batch",
    "summarise",
    "tag_results",
    "tagging_available",
    "write_genre",
    "write_table",
]
