"""``genrelab models``, ``frontends``, ``augmentations`` and ``feature-sets``: the names to type."""

from __future__ import annotations

from genrelab.cli.app import app
from genrelab.cli.common import out


def _show(kind: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from genrelab.catalog import LISTERS

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("description")
    for name, line in LISTERS[kind]():
        table.add_row(name, escape(line))
    out.print(table)


@app.command("models")
def list_models() -> None:
    """List the registered model names (for --model) with one line each."""
    _show("models")


@app.command("frontends")
def list_frontends() -> None:
    """List the front-end kinds (a card's "frontend", --frontend kind=...) with one line each."""
    _show("frontends")


@app.command("augmentations")
def list_augmentations() -> None:
    """List the augmentations (for --augment NAME[:KEY=VALUE...]) and their default settings."""
    _show("augmentations")


@app.command("feature-sets")
def list_feature_sets() -> None:
    """List the handcrafted feature sets (for --feature-set) with one line each."""
    _show("feature-sets")
