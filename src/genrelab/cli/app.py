"""The typer application that every command module adds its command to."""

from typing import Annotated

import typer

app = typer.Typer(
    name="genrelab",
    help="Music genre classification: classify audio, train and evaluate genre models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from genrelab._version import __version__

        typer.echo(f"genrelab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Music genre classification: classify audio, train and evaluate genre models.

    Names to use: 'genrelab models', 'genrelab frontends', 'genrelab augmentations',
    'genrelab feature-sets'.
    """
