"""An album's genre distribution: every track classified, then one profile for the record.

Like the published genre analysis of Beyoncé's *Cowboy Carter*, an album is described by the
mean of its tracks' probabilities (each track weighs the same) and by how many tracks each
genre wins, rather than by one label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from genrelab.pipeline.result import failed

_EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass(frozen=True)
class AlbumSummary:
    tracks: int
    failed: int
    #: Mean track probability per genre, highest first.
    distribution: dict[str, float]
    #: Tracks whose top genre is this one.
    wins: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracks": self.tracks,
            "failed": self.failed,
            "distribution": self.distribution,
            "wins": self.wins,
        }


def summarise(results: Sequence[dict[str, Any]], labels: Sequence[str]) -> AlbumSummary:
    ok = [r for r in results if not failed(r)]
    if ok:
        mean = {g: sum(r["probabilities"][g] for r in ok) / len(ok) for g in labels}
    else:
        mean = dict.fromkeys(labels, 0.0)
    ranked = dict(sorted(mean.items(), key=lambda kv: -kv[1]))
    counts = Counter(r["genre"] for r in ok)
    return AlbumSummary(
        len(results), len(results) - len(ok), ranked, {g: counts.get(g, 0) for g in ranked}
    )


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``fraction`` x ``width`` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def album_table(summary: AlbumSummary, title: str, width: int = 32) -> Table:
    """Genres by mean probability, with bars scaled to the leading genre."""
    table = Table(title=title, title_justify="left")
    table.add_column("genre", style="bold")
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True, style="cyan")
    table.add_column("tracks won", justify="right")
    top = max(summary.distribution.values(), default=0.0) or 1.0
    for genre, share in summary.distribution.items():
        table.add_row(genre, f"{share:.1%}", bar(share / top, width), str(summary.wins[genre]))
    return table
