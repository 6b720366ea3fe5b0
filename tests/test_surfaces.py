"""Every surface gives the same answer: Python API, CLI --json, HTTP, batch CSV and Ray.

The same files (a real GTZAN dev clip when ../shared is present, a 2-minute synthetic medley
and a 3 s clip) go through each surface with the default model; genres and probabilities must
agree to 1e-9 and the JSON surfaces must share one schema (``Result.to_dict``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

import genrelab
from genrelab import synth
from genrelab.batch import EngineSpec, read_table, run_batch
from genrelab.cli import main
from genrelab.service import ServiceSettings, create_app

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SCHEMA = {
    "path",
    "model",
    "labels",
    "aggregate",
    "genre",
    "confidence",
    "probabilities",
    "logits",
    "windows",
    "tags",
    "error",
}
#: What the HTTP answer adds to the schema: facts about the upload and the request.
HTTP_EXTRAS = {"duration_s", "analysed_s", "truncated", "spectrogram_png", "elapsed_ms"}
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def tracks(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("surfaces")
    files = []
    dev = sorted((SHARED / "gtzan-dev").rglob("*.wav")) if SHARED.is_dir() else []
    if dev:
        files.append(dev[0])
    else:  # no real clip here: a synthetic 30 s one stands in
        files.append(folder / "clip30.wav")
        sf.write(files[-1], synth.song(30.0, style="disco", seed=5), 22050, subtype="PCM_16")
    medley = np.concatenate(
        [
            synth.song(30.0, style=s, seed=i)
            for i, s in enumerate(("rock", "classical", "disco", "ambient"))
        ]
    )
    files.append(folder / "medley-2min.wav")
    sf.write(files[-1], medley, 22050, subtype="PCM_16")
    files.append(folder / "short-3s.wav")
    sf.write(files[-1], synth.song(3.0, style="rock", seed=9), 22050, subtype="PCM_16")
    return files


@pytest.fixture(scope="module")
def python_api(tracks) -> list[dict]:
    model = genrelab.load_model()
    return [model.classify(path).to_dict() for path in tracks]


def assert_same_answer(got: dict, want: dict, where: str) -> None:
    assert got["genre"] == want["genre"], where
    assert list(got["probabilities"]) == list(want["probabilities"]), where
    for label, p in want["probabilities"].items():
        assert abs(got["probabilities"][label] - p) <= TOLERANCE, (where, label)
    assert abs(got["confidence"] - want["confidence"]) <= TOLERANCE, where


def assert_same_timeline(got: dict, want: dict, where: str) -> None:
    assert len(got["windows"]) == len(want["windows"]), where
    for a, b in zip(got["windows"], want["windows"], strict=True):
        assert (a["start"], a["end"], a["genre"]) == (b["start"], b["end"], b["genre"]), where
        for label, p in b["probabilities"].items():
            assert abs(a["probabilities"][label] - p) <= TOLERANCE, (where, label)


def test_the_python_api_answers_every_file_in_the_schema(python_api, tracks):
    for result, path in zip(python_api, tracks, strict=True):
        assert set(result) == SCHEMA
        assert result["error"] is None and result["path"] == str(path)
        assert result["model"] == "default" and result["labels"] == genrelab.load_model().labels
        assert result["genre"] in result["labels"]
        assert abs(sum(result["probabilities"].values()) - 1) < 1e-9
    medley = python_api[1]
    assert [(w["start"], w["end"]) for w in medley["windows"]] == [
        (0.0, 30.0),
        (30.0, 60.0),
        (60.0, 90.0),
        (90.0, 120.0),
    ]
    assert len(python_api[2]["windows"]) == 1  # 3 s: one window of all of it


def test_cli_json_equals_the_python_api(python_api, tracks, capsys):
    with pytest.raises(SystemExit) as done:
        main(["classify", "--json", *map(str, tracks)])
    assert done.value.code in (0, None)
    results = json.loads(capsys.readouterr().out)
    for got, want in zip(results, python_api, strict=True):
        assert set(got) == SCHEMA
        assert_same_answer(got, want, "cli")
        assert_same_timeline(got, want, "cli")
        assert got["tags"] == want["tags"]


def test_http_equals_the_python_api(python_api, tracks, tmp_path):
    app = create_app(None, ServiceSettings(warm_up=False, tmp_dir=tmp_path))
    with TestClient(app) as client:
        for path, want in zip(tracks, python_api, strict=True):
            with open(path, "rb") as fh:
                response = client.post("/v1/classify", files={"file": (path.name, fh, "audio/wav")})
            assert response.status_code == 200, response.text
            got = response.json()
            assert set(got) == SCHEMA | HTTP_EXTRAS
            assert got["path"] == path.name
            assert_same_answer(got, want, "http")
            assert_same_timeline(got, want, "http")
            assert got["tags"] == want["tags"]


def test_batch_csv_and_local_ray_equal_the_python_api(python_api, tracks, tmp_path):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    spec = EngineSpec(("default",), tags=True)
    table = tmp_path / "tracks.csv"
    local = run_batch(spec, tracks, output=table)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        distributed = run_batch(spec, tracks, use_ray=True)
    finally:
        ray.shutdown()
    rows: pd.DataFrame = read_table(table)
    labels = python_api[0]["labels"]
    for i, want in enumerate(python_api):
        for where, got in (("batch", local[i]), ("ray", distributed[i])):
            assert set(got) == SCHEMA, where
            assert_same_answer(got, want, where)
            assert_same_timeline(got, want, where)
            assert got["tags"] == want["tags"], where
        row = rows.iloc[i]
        assert row["genre"] == want["genre"] and row["error"] == ""
        csv = {label: float(row[f"prob_{label}"]) for label in labels}
        assert_same_answer({**want, "probabilities": csv}, want, "csv")
