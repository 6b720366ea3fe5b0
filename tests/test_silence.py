"""Silence and near-silence give "no music detected", never a confident genre."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.audio.level import SILENCE_DBFS, LevelMeter
from genrelab.batch import EngineSpec
from genrelab.cli import main
from genrelab.errors import AudioError
from genrelab.pipeline import Classifier


def at_dbfs(y: np.ndarray, dbfs: float) -> np.ndarray:
    rms = np.sqrt(np.mean(np.square(y, dtype=np.float64)))
    return (y * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def test_meter_levels():
    meter = LevelMeter()
    meter.add(np.zeros(100))
    assert meter.dbfs == -np.inf
    with pytest.raises(AudioError, match=r"x.wav: no music detected \(digital silence"):
        meter.check("x.wav")
    meter.add(np.full(100, 0.1))  # half the samples at 0.1: mean square 0.005
    assert meter.dbfs == pytest.approx(10 * np.log10(0.005))
    meter.check("x.wav")


@pytest.fixture(scope="module")
def quiet_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("quiet")
    rng = np.random.default_rng(0)
    song = synth.song(6.0, style="classical", seed=2)
    files = {
        "silent": np.zeros(6 * 22050, dtype=np.float32),
        "hiss": at_dbfs(rng.standard_normal(6 * 22050), SILENCE_DBFS - 15),
        "quiet-music": at_dbfs(song, -45.0),
    }
    for name, y in files.items():
        sf.write(root / f"{name}.wav", y, 22050, subtype="PCM_24")
    return root


@pytest.mark.parametrize("name", ["silent", "hiss"])
def test_every_path_refuses_silence(tiny_bundle, quiet_files, name):
    path = quiet_files / f"{name}.wav"
    classifier = Classifier(tiny_bundle)
    with pytest.raises(AudioError, match="no music detected"):
        classifier.classify(path)
    y, _ = sf.read(path, dtype="float32")
    with pytest.raises(AudioError, match="no music detected"):
        classifier.classify(y, 22050)
    for method in ("mean", "middle"):
        result = EngineSpec((str(tiny_bundle),), method).build().classify(path)
        assert "no music detected" in result["error"] and result["genre"] is None


def test_quiet_music_is_still_classified(tiny_bundle, quiet_files, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(quiet_files), "-m", str(tiny_bundle), "--json"])
    assert exit_info.value.code == 0
    results = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(capsys.readouterr().out)}
    assert results["quiet-music.wav"]["error"] is None
    assert results["quiet-music.wav"]["genre"] is not None
    assert "no music detected" in results["silent.wav"]["error"]
    assert "no music detected" in results["hiss.wav"]["error"]
