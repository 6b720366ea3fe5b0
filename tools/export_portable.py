"""Add ``portable.npz`` files to saved bundles, so they load and predict with NumPy alone.

Bundles saved by older genrelab versions hold only ``pipeline.joblib`` pickles; loading them
imports scikit-learn and XGBoost. This script reloads each bundle from its pickles (ignoring
any existing ``portable.npz``) and saves it back in place, atomically: every pipeline of a
supported shape (see :mod:`genrelab.models.portable`) gets its ``portable.npz``, checked
against the library at export; the card's content and the other files stay as they were.
Torch weights saved as ``weights.pt`` are re-saved as safetensors, a stacker as ``stacker.npz``.
It unpickles the bundles' files, which can run code: convert only bundles you trust.

Usage: python tools/export_portable.py BUNDLE_DIR [BUNDLE_DIR ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import stat
import tempfile
from pathlib import Path

from genrelab.models.bundle import CARD, MODEL_DIR, load_bundle
from genrelab.models.portable import FILE as PORTABLE
from genrelab.models.trust import Trust

PICKLE = "pipeline.joblib"


def export_bundle(path: Path) -> list[tuple[str, bool]]:
    """Re-save the bundle at ``path`` with portable files; returns (model folder, portable?)."""
    card_before = json.loads((path / CARD).read_text())
    mode = stat.S_IMODE(path.stat().st_mode)
    with tempfile.TemporaryDirectory() as tmp:
        # Load a copy without portable files, so the pickles are the source of truth.
        source = Path(tmp) / path.name
        shutil.copytree(path, source, ignore=shutil.ignore_patterns(PORTABLE))
        bundle = load_bundle(source, trust=Trust(pickle=True))
        bundle.save(path)
    path.chmod(mode)  # the save's temporary folder was private (0700)
    if json.loads((path / CARD).read_text()) != card_before:
        raise SystemExit(f"{path}: the card changed on re-saving; check {CARD}")
    model_dir = path / MODEL_DIR
    return [
        (str(p.parent.relative_to(model_dir)), (p.parent / PORTABLE).is_file())
        for p in sorted(model_dir.rglob(PICKLE))
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE_DIR")
    args = parser.parse_args(argv)
    for path in args.bundles:
        for folder, portable in export_bundle(path):
            print(f"{path / MODEL_DIR / folder}: {'portable' if portable else 'joblib only'}")


if __name__ == "__main__":
    main()
