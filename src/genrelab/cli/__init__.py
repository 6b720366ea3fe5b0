"""The ``genrelab`` command.

Exit codes: 0 success; 1 the job ran but produced nothing usable (e.g. no file could be
classified); 2 bad usage or input (unknown option, model or path), printed as one line.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from genrelab.cli.app import app
from genrelab.errors import GenrelabError
from genrelab.models.trust import Trust, allow

# Importing the command modules registers their commands on ``app``.
from genrelab.cli import classify, pretrained, train  # noqa: F401  isort: skip
from genrelab.cli import augment  # noqa: F401  isort: skip
from genrelab.cli import serve  # noqa: F401  isort: skip
from genrelab.cli import experiments  # noqa: F401  isort: skip
from genrelab.cli import listing  # noqa: F401  isort: skip
from genrelab.cli import explore  # noqa: F401  isort: skip


def main(argv: list[str] | None = None) -> None:
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="genrelab", standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        print("genrelab: interrupted", file=sys.stderr)
        code = 130
    except TyperException as err:  # typer's (vendored click) usage and parameter errors
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        code = getattr(err, "exit_code", 2)
        if message.strip():
            print(f"genrelab: error: {' '.join(message.split())}", file=sys.stderr)
        else:  # bare ``genrelab``: the help was printed, there is no error to report
            code = 0
    except GenrelabError as err:
        print(f"genrelab: error: {err}", file=sys.stderr)
        code = 2
    finally:
        allow(Trust())  # --trust-* flags last one command, also when called in-process
    sys.exit(code if isinstance(code, int) else 0)
