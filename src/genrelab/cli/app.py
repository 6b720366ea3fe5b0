"""The typer application that every command module adds its command to."""

import typer

app = typer.Typer(
    name="genrelab",
    help="Music genre classification: classify audio, train and evaluate genre models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
