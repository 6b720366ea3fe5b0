"""Finding names: the listing commands, --version and a bare ``genrelab``."""

from __future__ import annotations

import re

import pytest

from genrelab import __version__
from genrelab.augment import BATCH_NAMES, WAVE_NAMES, build_one
from genrelab.catalog import LISTERS
from genrelab.cli import main
from genrelab.features.frontends import _FRONTENDS, _LAZY
from genrelab.features.sets import available_feature_sets
from genrelab.models import available_models


def run(argv, capsys, monkeypatch):
    from genrelab.cli import common

    # One row per name, whenever the shared console was created.
    monkeypatch.setattr(common.out, "_width", 250)
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def listed(out: str) -> dict[str, str]:
    rows = (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines())
    return {row[0]: row[1] for row in rows if len(row) == 2}


@pytest.mark.parametrize(
    ("command", "names"),
    [
        ("models", lambda: available_models()),
        ("frontends", lambda: {*_FRONTENDS, *_LAZY}),
        ("augmentations", lambda: (*WAVE_NAMES, *BATCH_NAMES)),
        ("feature-sets", lambda: available_feature_sets()),
    ],
)
def test_every_registered_name_is_listed_with_a_description(command, names, capsys, monkeypatch):
    code, out, _ = run([command], capsys, monkeypatch)
    rows = listed(out)
    assert code == 0
    assert set(names()) <= set(rows)
    assert all(len(line) > 8 for line in rows.values()), rows


def test_every_name_has_its_own_line_not_a_blank():
    for kind, lister in LISTERS.items():
        for name, line in lister():
            assert line.strip(), f"{kind} {name} has no description"


def test_augmentations_show_settings_that_parse(capsys, monkeypatch):
    _, out, _ = run(["augmentations"], capsys, monkeypatch)
    line = listed(out)["pitch_shift"]
    settings = re.search(r"\[(.*)\]", line).group(1).split()
    assert "semitones=-2..2" in settings
    build_one(":".join(["pitch_shift", *settings]))  # what is shown is what --augment takes


def test_version(capsys, monkeypatch):
    code, out, _ = run(["--version"], capsys, monkeypatch)
    assert code == 0 and out.strip() == f"genrelab {__version__}"


def test_bare_genrelab_prints_help_not_an_empty_error(capsys, monkeypatch):
    code, out, err = run([], capsys, monkeypatch)
    assert code == 0
    assert "Usage" in out + err and "classify" in out + err
    assert "error" not in err


def test_readme_augmentation_names_exist():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for spec in re.findall(r"--augment \"?([a-z_]+)", readme):
        build_one(spec)
