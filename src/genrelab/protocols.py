"""The grammar of evaluation protocols (``--split``, ``--protocol``), parsed in one place.

A light module on purpose: the command line reads its help text at start-up, before pandas
or scikit-learn are imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genrelab.errors import DataError

#: What every command that takes a protocol says about the grammar.
PROTOCOL_HELP = (
    "random-A-B-C (train/valid/test percentages summing to 100, e.g. random-80-10-10; "
    "random-A-B has no valid part), kfold-K (K folds, e.g. kfold-10), gtzan-filtered (the "
    "artist-filtered GTZAN split), official (the dataset's own split column), cross-source "
    "(compare only, with --test-data); leaky on purpose, splitting rows regardless of their "
    "track: random-rows-A-B-C, kfold-rows-K"
)

_RANDOM = re.compile(r"random(?P<rows>-rows)?-(?P<a>\d+)-(?P<b>\d+)(?:-(?P<c>\d+))?")
_KFOLD = re.compile(r"kfold(?P<rows>-rows)?-(?P<k>\d+)")
_NAMED = ("gtzan-filtered", "official", "cross-source")


@dataclass(frozen=True)
class Protocol:
    """A parsed protocol. ``rows`` protocols split feature rows ignoring their track (they
    leak by design); every other one keeps a track's (or an artist's) rows together."""

    name: str
    kind: str  # random, kfold, gtzan-filtered, official or cross-source
    rows: bool = False
    k: int = 0
    percentages: tuple[int, int, int] = (0, 0, 0)

    @property
    def kfold(self) -> bool:
        return self.kind == "kfold"

    @property
    def single_split(self) -> bool:
        """Whether it assigns one train/valid/test split (per seed) rather than folds."""
        return self.kind in ("random", "gtzan-filtered", "official")

    @property
    def fractions(self) -> tuple[float, float, float]:
        """The train, valid and test shares of a ``random`` protocol."""
        return (self.percentages[0] / 100, self.percentages[1] / 100, self.percentages[2] / 100)

    def grouped(self) -> Protocol:
        """The same split applied to groups (tracks) instead of rows."""
        name = self.name.replace("-rows-", "-", 1)
        return Protocol(name, self.kind, False, self.k, self.percentages)

    def require_single_split(self, who: str) -> Protocol:
        """This protocol, or a :class:`DataError` saying ``who`` needs one grouped split."""
        if not self.single_split or self.rows:
            raise DataError(
                f"{who} with a single split (random-A-B-C, gtzan-filtered or official), "
                f"not {self.name!r}"
            )
        return self


def parse_protocol(spec: str) -> Protocol:
    """Parse ``spec`` (case and surrounding blanks ignored); a :class:`DataError` listing the
    grammar when it is not one."""
    name = spec.strip().lower()
    if match := _RANDOM.fullmatch(name):
        a, b, c = match["a"], match["b"], match["c"]
        train, valid, test = (int(a), 0, int(b)) if c is None else (int(a), int(b), int(c))
        if train + valid + test != 100:
            raise DataError(
                f"split percentages in {spec.strip()!r} must sum to 100, not {train + valid + test}"
            )
        return Protocol(name, "random", bool(match["rows"]), percentages=(train, valid, test))
    if match := _KFOLD.fullmatch(name):
        k = int(match["k"])
        if k < 2:
            raise DataError(f"{spec.strip()!r}: k-fold needs at least 2 folds")
        return Protocol(name, "kfold", bool(match["rows"]), k=k)
    if name in _NAMED:
        return Protocol(name, name)
    raise DataError(f"unknown protocol {spec!r}; use one of: {PROTOCOL_HELP}")
