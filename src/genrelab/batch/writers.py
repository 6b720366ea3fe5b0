"""Result tables (CSV, JSONL, Parquet) written atomically, and the journal that makes runs resumable.

Every finished track is appended to a JSONL journal beside the output and fsynced, so a killed
run loses at most the track in flight. The table itself is written once at the end to a
temporary sibling and renamed into place: readers never see a half-written file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from genrelab.atomic import atomic_path, write_text
from genrelab.errors import GenrelabError
from genrelab.pipeline.result import failed

FORMATS = (".csv", ".jsonl", ".parquet")


def check_output(path: str | Path) -> Path:
    """Validate an output path before any work is done (a typo must not cost a whole run)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise GenrelabError(
            f"cannot write {path.name}: the output must end in {', '.join(FORMATS)}"
        )
    if path.is_dir():
        raise GenrelabError(f"{path} is a folder; give a file name such as results.csv")
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as err:
            raise GenrelabError("writing .parquet needs pyarrow: pip install pyarrow") from err
    return path


def columns(labels: Sequence[str]) -> list[str]:
    return [
        "path",
        "genre",
        "confidence",
        *(f"prob_{label}" for label in labels),
        *(f"logit_{label}" for label in labels),
        "error",
    ]


def flat_row(result: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """One table row: probabilities and logits one column per class; failures fill ``error``."""
    bad = failed(result)
    nan = math.nan
    row: dict[str, Any] = {
        "path": result["path"],
        "genre": "" if bad else result["genre"],
        "confidence": nan if bad else result["confidence"],
    }
    for label in labels:
        row[f"prob_{label}"] = nan if bad else result["probabilities"][label]
    for label in labels:
        row[f"logit_{label}"] = nan if bad else result["logits"][label]
    row["error"] = result.get("error") or ""
    return row


def write_table(path: str | Path, results: Iterable[dict[str, Any]], labels: Sequence[str]) -> Path:
    """Write flat rows in the format named by the extension, atomically."""
    import pandas as pd

    path = check_output(path)
    rows = [flat_row(r, labels) for r in results]
    frame = pd.DataFrame(rows, columns=columns(labels))
    writers: dict[str, Callable[[str], None]] = {
        ".csv": lambda tmp: frame.to_csv(tmp, index=False),
        ".parquet": lambda tmp: frame.to_parquet(tmp, index=False),
        ".jsonl": lambda tmp: _write_jsonl(tmp, rows),
    }
    with atomic_path(path) as tmp:
        writers[path.suffix.lower()](str(tmp))
    return path


def read_table(path: str | Path):
    """Read a written table back as a DataFrame."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path)
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_json(path, lines=True, precise_float=True, dtype=False)
    frame[["genre", "error"]] = frame[["genre", "error"]].astype(object).fillna("")
    return frame


def _write_jsonl(tmp: str, rows: list[dict[str, Any]]) -> None:
    with open(tmp, "w") as fh:
        for row in rows:
            clean = {
                k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()
            }
            fh.write(json.dumps(clean) + "\n")


def journal_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f".{output.name}.journal.jsonl")


def path_key(path: str | Path) -> str:
    """Resume matches files by absolute path, whatever the working directory was."""
    return os.path.abspath(path)


class Journal:
    """Append-only JSONL: a header line naming the job, then one finished result per line."""

    def __init__(self, path: Path, header: dict[str, Any], done: dict[str, dict[str, Any]]):
        self.path = path
        self.header = header
        #: Results already in the journal, by :func:`path_key`.
        self.done = done
        self._fh = open(path, "a")  # noqa: SIM115  (closed by close())

    @classmethod
    def open(cls, path: str | Path, header: dict[str, Any], resume: bool) -> Journal:
        """Start a journal, or with ``resume`` continue one written by the same job."""
        path = Path(path)
        done: dict[str, dict[str, Any]] = {}
        if resume and path.exists():
            done = _read_journal(path, header)
        else:  # a killed run leaves the old journal or a whole header, never half of one
            write_text(path, json.dumps({"journal": header}) + "\n")
        return cls(path, header, done)

    def append(self, result: dict[str, Any]) -> None:
        self._fh.write(json.dumps(result) + "\n")
        _sync(self._fh)

    def close(self) -> None:
        self._fh.close()

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def _sync(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _read_journal(path: Path, header: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Results of an interrupted run; a torn last line (killed mid-write) is cut off."""
    done: dict[str, dict[str, Any]] = {}
    good = 0  # byte offset after the last complete line
    with open(path, "rb") as fh:
        lines = fh.readlines()
    for i, raw in enumerate(lines):
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise GenrelabError(
                f"{path} is corrupt at line {i + 1}; delete it to start over"
            ) from None
        if not raw.endswith(b"\n"):
            break
        if i == 0:
            if record.get("journal") != header:
                raise GenrelabError(
                    f"{path} was written by a different job (models, aggregate or labels "
                    "differ); run without --resume to start over"
                )
        else:
            done.setdefault(path_key(record["path"]), record)
        good += len(raw)
    if good == 0:
        raise GenrelabError(f"{path} has no header; delete it to start over")
    with open(path, "r+b") as fh:
        fh.truncate(good)
    return done
