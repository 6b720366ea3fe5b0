"""The one protocol grammar: what it accepts, how it reads it, and what it refuses."""

from __future__ import annotations

import pytest

from genrelab.errors import DataError
from genrelab.protocols import PROTOCOL_HELP, parse_protocol


def test_random_splits_read_percentages() -> None:
    three = parse_protocol(" Random-80-10-10 ")
    assert (three.name, three.kind, three.rows) == ("random-80-10-10", "random", False)
    assert three.fractions == (0.8, 0.1, 0.1)
    assert parse_protocol("random-70-30").percentages == (70, 0, 30)
    rows = parse_protocol("random-rows-80-10-10")
    assert rows.rows and rows.single_split
    assert rows.grouped() == three
    with pytest.raises(DataError, match="sum to 100, not 110"):
        parse_protocol("random-50-30-30")


def test_kfold_and_named_protocols() -> None:
    folds = parse_protocol("kfold-rows-5")
    assert folds.kfold and folds.rows and folds.k == 5 and not folds.single_split
    assert folds.grouped().name == "kfold-5"
    with pytest.raises(DataError, match="at least 2 folds"):
        parse_protocol("kfold-1")
    for name in ("gtzan-filtered", "official"):
        assert parse_protocol(name).single_split
    assert not parse_protocol("cross-source").single_split


@pytest.mark.parametrize("bad", ["kfold", "cv", "random-80", "random-rows", "kfold-x", ""])
def test_unknown_protocols_list_the_grammar(bad: str) -> None:
    with pytest.raises(DataError, match="unknown protocol") as caught:
        parse_protocol(bad)
    assert PROTOCOL_HELP in str(caught.value)


def test_single_split_is_required_where_folds_make_no_sense() -> None:
    assert parse_protocol("official").require_single_split("x").kind == "official"
    for name in ("kfold-3", "random-rows-80-20", "cross-source"):
        with pytest.raises(DataError, match="neural models train with a single split"):
            parse_protocol(name).require_single_split("neural models train")
