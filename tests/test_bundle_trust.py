"""Loading a bundle runs no code: no unpickling unless trusted, no remote code from a card,
no files from outside the bundle, and a malformed card is one clear error (rc 2)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genrelab.cli import main
from genrelab.errors import ModelError
from genrelab.models import default_bundle_path, load_bundle
from genrelab.models.trust import Trust


class _Evil:
    """Unpickling this creates ``marker``: what a hostile pickle could do instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _copy(bundle: Path, tmp_path: Path, name: str = "bundle") -> Path:
    target = tmp_path / name
    shutil.copytree(bundle, target)
    return target


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture
def track(tmp_path: Path, write_wav) -> Path:
    from genrelab import synth

    return write_wav("track.wav", synth.song(4.0, style="rock", seed=3))


def test_a_hostile_pickle_is_not_loaded_without_trust_bundle(tiny_bundle, tmp_path, track, capsys):
    bundle = _copy(tiny_bundle, tmp_path)
    marker = tmp_path / "pwned"
    (bundle / "model" / "portable.npz").unlink()
    (bundle / "model" / "pipeline.joblib").write_bytes(pickle.dumps(_Evil(marker)))

    code, _, err = _run(["classify", str(track), "-m", str(bundle)], capsys)
    assert code == 2 and not marker.exists()
    assert len(err.strip().splitlines()) == 1 and "--trust-bundle" in err

    # Trusted on purpose: now it is unpickled (and the user was told so, in one line).
    code, _, err = _run(["classify", str(track), "-m", str(bundle), "--trust-bundle"], capsys)
    assert marker.exists()
    assert "warning: unpickling" in err


def test_an_old_pickled_bundle_classifies_with_trust_bundle(tiny_bundle, tmp_path, track, capsys):
    bundle = _copy(tiny_bundle, tmp_path)
    (bundle / "model" / "portable.npz").unlink()
    assert _run(["classify", str(track), "-m", str(bundle)], capsys)[0] == 2
    code, out, err = _run(
        ["classify", str(track), "-m", str(bundle), "--trust-bundle", "--json"], capsys
    )
    assert code == 0 and json.loads(out)[0]["genre"]
    assert [line for line in err.splitlines() if "warning" in line] == [
        f"genrelab: warning: unpickling {bundle / 'model' / 'pipeline.joblib'} (--trust-bundle)"
    ]


def test_a_pickled_stacker_is_refused_without_trust(tiny_bundle, tmp_path):
    from genrelab.experiments.ensemble import build_ensemble

    target = build_ensemble([str(tiny_bundle), str(tiny_bundle)]).save(tmp_path / "ens")
    marker = tmp_path / "pwned"
    (target / "model" / "stacker.joblib").write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(ModelError, match=r"stacker\.joblib is a pickle"):
        load_bundle(target)
    assert not marker.exists()


def test_remote_code_comes_only_from_the_command_line(tiny_bundle, tmp_path, track, capsys):
    bundle = _copy(tiny_bundle, tmp_path)
    card = json.loads((bundle / "card.json").read_text())
    card["params"]["trust_remote_code"] = True
    (bundle / "card.json").write_text(json.dumps(card))
    code, _, err = _run(["classify", str(track), "-m", str(bundle)], capsys)
    assert code == 2 and "--trust-remote-code" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ModelError, match="trust-remote-code"):
        load_bundle(bundle, trust=Trust(pickle=True))


def test_symlinks_out_of_the_bundle_are_refused(tiny_bundle, tmp_path, track, capsys):
    bundle = _copy(tiny_bundle, tmp_path)
    outside = tmp_path / "elsewhere.npz"
    shutil.move(bundle / "model" / "portable.npz", outside)
    (bundle / "model" / "portable.npz").symlink_to(outside)
    code, _, err = _run(["classify", str(track), "-m", str(bundle)], capsys)
    assert code == 2 and "points outside the bundle" in err

    # A member folder linked to anywhere else is refused too; links inside are fine.
    default = _copy(default_bundle_path(), tmp_path, "default")
    shutil.move(default / "model" / "member-3", tmp_path / "member-3")
    (default / "model" / "member-3").symlink_to(tmp_path / "member-3")
    with pytest.raises(ModelError, match="member-3 points outside"):
        load_bundle(default)
    (default / "model" / "member-3").unlink()
    shutil.move(tmp_path / "member-3", default / "member-3-data")
    (default / "model" / "member-3").symlink_to(default / "member-3-data")
    assert load_bundle(default).labels


def _card_cases(base: dict) -> dict[str, tuple[bytes, str]]:
    """Malformed card.json contents and the field the error must name."""

    def with_(**changes) -> bytes:
        return json.dumps({**base, **changes}).encode()

    return {
        "null": (b"null", "object"),
        "list": (b"[]", "object"),
        "not utf-8": (
            json.dumps({**base, "model": "x"}).encode().replace(b'"x"', b'"\xff"'),
            "UTF-8",
        ),
        "format_version string": (with_(format_version="2"), "format_version"),
        "frontend string": (with_(frontend="features"), "frontend"),
        "params list": (with_(params=[1, 2]), "params"),
        "params unknown key": (with_(params={"C": 1.0, "bogus": 3}), "params"),
        "sample_rate string": (with_(sample_rate="abc"), "sample_rate"),
        "sample_rate zero": (with_(sample_rate=0), "sample_rate"),
        "window zero": (with_(windowing={"window_s": 0, "hop_s": 1}), "window_s"),
        "hop negative": (with_(windowing={"window_s": 2, "hop_s": -1}), "hop_s"),
        "no labels": (
            json.dumps({k: v for k, v in base.items() if k != "labels"}).encode(),
            "labels",
        ),
    }


def test_malformed_cards_are_one_line_and_rc_2(tiny_bundle, tmp_path, track, capsys):
    bundle = _copy(tiny_bundle, tmp_path)
    base = json.loads((bundle / "card.json").read_text())
    for name, (content, field) in _card_cases(base).items():
        (bundle / "card.json").write_bytes(content)
        code, _, err = _run(["classify", str(track), "-m", str(bundle)], capsys)
        assert code == 2, name
        lines = err.strip().splitlines()
        assert len(lines) == 1 and field in lines[0], (name, err)
        assert "Traceback" not in err


def test_default_card_with_empty_params_is_refused(tmp_path, track, capsys):
    default = _copy(default_bundle_path(), tmp_path)
    card = json.loads((default / "card.json").read_text())
    card["params"] = {}
    (default / "card.json").write_text(json.dumps(card))
    code, _, err = _run(["classify", str(track), "-m", str(default)], capsys)
    assert code == 2 and "'params'" in err and len(err.strip().splitlines()) == 1


def test_the_shipped_default_loads_without_any_pickle():
    child = (
        "import pickle, sys\n"
        "def refuse(*a, **k): raise AssertionError('unpickled')\n"
        "pickle.load = pickle.loads = refuse\n"
        "from genrelab.models import load_bundle\n"
        "bundle = load_bundle()\n"
        "import numpy as np\n"
        "print(bundle.model.predict_proba(np.zeros((1, 1253))).shape)\n"
        "print(sorted(m for m in ('joblib', 'sklearn', 'xgboost', 'torch') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    assert out == ["(1, 11)", "[]"]


def test_the_service_loads_no_pickle_without_trust(tiny_bundle, tmp_path):
    """``serve`` builds its app from the bundle the same way: a hostile pickle runs nothing."""
    from genrelab.service import ServiceSettings, create_app

    bundle = _copy(tiny_bundle, tmp_path)
    marker = tmp_path / "pwned"
    (bundle / "model" / "portable.npz").unlink()
    (bundle / "model" / "pipeline.joblib").write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(ModelError, match="--trust-bundle"):
        create_app(bundle, ServiceSettings(tmp_dir=tmp_path, warm_up=False))
    assert not marker.exists()
