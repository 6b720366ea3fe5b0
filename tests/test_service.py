"""The HTTP API: responses, limits and errors (TestClient), plus a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from genrelab import synth
from genrelab.batch import tagging_available
from genrelab.cli import main
from genrelab.features import FeatureSet, register_feature_set
from genrelab.models import Bundle, ModelCard, create_model
from genrelab.service import ServiceSettings, background_server, create_app

LIMIT = 1_000_000
PNG = b"\x89PNG\r\n\x1a\n"


def wav_bytes(seconds: float, style: str = "rock", seed: int = 0) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, synth.song(seconds, style=style, seed=seed), 22050, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> ServiceSettings:
    return ServiceSettings(
        max_upload_bytes=LIMIT, tmp_dir=tmp_path_factory.mktemp("server-tmp"), warm_up=False
    )


@pytest.fixture(scope="module")
def app(tiny_bundle, settings):
    return create_app(tiny_bundle, settings)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def uploads(app) -> Path:
    """The private upload folder; every test must leave it empty."""
    folder = app.state.service.uploads
    yield folder
    deadline = time.monotonic() + 10  # a timed-out job deletes its upload when it ends
    while any(folder.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(folder.iterdir()), "uploads must be deleted after use"


def test_health_models_and_openapi(client):
    assert client.get("/healthz").json()["status"] == "ok"
    model = client.get("/v1/models").json()["models"][0]
    assert model["labels"] == ["ambient", "classical", "rock"]
    assert (model["window_s"], model["min_s"]) == (2.0, 2.0)
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/v1/models", "/v1/classify", "/v1/spectrogram"} <= set(spec["paths"])
    body = spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "audio/*" in body


def test_classify_multipart_returns_genre_timeline_and_spectrogram(client, uploads):
    response = client.post(
        "/v1/classify?spectrogram=true",
        files={"file": ("song.wav", wav_bytes(5.0, "classical"), "audio/wav")},
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["path"] == "song.wav"
    assert data["genre"] == "classical"
    assert sum(data["probabilities"].values()) == pytest.approx(1.0)
    assert data["confidence"] == max(data["probabilities"].values())
    assert [(w["start"], w["end"]) for w in data["windows"]] == [(0, 2), (2, 4), (3, 5)]
    assert data["duration_s"] == data["analysed_s"] == 5.0 and not data["truncated"]
    assert base64.b64decode(data["spectrogram_png"]).startswith(PNG)
    assert (data["tags"] is not None) == tagging_available()


def test_raw_body_gives_the_same_answer_as_multipart(client, uploads):
    audio = wav_bytes(4.0, "rock", seed=3)
    raw = client.post("/v1/classify", content=audio, headers={"content-type": "audio/wav"})
    form = client.post("/v1/classify", files={"file": ("x.wav", audio)})
    assert raw.status_code == form.status_code == 200
    assert raw.json()["probabilities"] == form.json()["probabilities"]
    assert raw.json()["spectrogram_png"] is None


def test_spectrogram_endpoint_returns_a_png(client, uploads):
    response = client.post("/v1/spectrogram", files={"file": ("x.wav", wav_bytes(3.0))})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG)


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"files": {"file": ("bad.mp3", b"\x00garbage" * 100)}}, 422, "cannot decode bad.mp3"),
        ({"files": {"file": ("short.wav", wav_bytes(1.0))}}, 422, "needs at least 2.0 s"),
        ({"files": {"file": ("empty.wav", b"")}}, 422, "the upload is empty"),
        ({"files": {"other": ("x.wav", b"RIFF")}}, 422, "no 'file' field"),
        ({"content": b"hi", "headers": {"content-type": "text/plain"}}, 415, "unsupported content"),
        ({"content": b"\x00" * (LIMIT + 1)}, 413, "larger than this server's limit"),
    ],
)
def test_bad_uploads_get_a_json_error(client, uploads, kwargs, status, message):
    response = client.post("/v1/classify", **kwargs)
    assert response.status_code == status
    error = response.json()["error"]
    assert message in error
    assert str(uploads) not in error, "server paths never leak into messages"


def test_bad_query_and_unknown_paths(client):
    response = client.post("/v1/classify?aggregate=median", content=b"x")
    assert response.status_code == 422 and "aggregate" in response.json()["error"]
    response = client.post("/v1/classify?aggregate=random:0", content=b"x")
    assert response.status_code == 422 and "random" in response.json()["error"]
    assert client.get("/etc/passwd").status_code == 404
    assert client.get("/v1/classify/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_web_page_and_assets(client):
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/app.js">' in page.text and 'id="file"' in page.text
    assert client.get("/app.js").headers["content-type"].startswith("text/javascript")
    assert "MediaRecorder" in client.get("/app.js").text
    assert client.get("/style.css").headers["content-type"].startswith("text/css")


def test_full_server_answers_503_with_retry_after(app, client, uploads):
    slots = app.state.service.slots
    taken = 0
    while slots.acquire():
        taken += 1
    try:
        response = client.post("/v1/classify", files={"file": ("x.wav", wav_bytes(3.0))})
    finally:
        for _ in range(taken):
            slots.release()
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    assert taken == app.state.service.settings.workers + app.state.service.settings.queue


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"decode_timeout_s": 0.0}, 422, "decoding took longer than 0 s"),
        ({"request_timeout_s": 0.001}, 504, "took too long"),
    ],
)
def test_timeouts(app, client, uploads, monkeypatch, change, status, message):
    service = app.state.service
    monkeypatch.setattr(service, "settings", replace(service.settings, **change))
    response = client.post("/v1/classify", files={"file": ("x.wav", wav_bytes(3.0))})
    assert response.status_code == status
    assert message in response.json()["error"]


# --- a real uvicorn server on 127.0.0.1, real HTTP ---------------------------------------


@pytest.fixture(scope="module")
def server(app):
    with background_server(app) as url:
        assert url.startswith("http://127.0.0.1:")
        yield url


def test_real_server_classifies_over_http(server):
    with httpx.Client(base_url=server, timeout=60) as http:
        assert http.get("/healthz").status_code == 200
        response = http.post("/v1/classify", files={"file": ("a.wav", wav_bytes(4.0, "classical"))})
    assert response.status_code == 200
    assert response.json()["genre"] == "classical"


def _raw_request(url: str, head: bytes, body_chunks=()) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        for chunk in body_chunks:
            sock.sendall(chunk)
        return sock.recv(4096)


def test_oversized_bodies_are_refused_while_streaming(server):
    # A declared length over the limit is refused before any body byte is sent.
    head = b"POST /v1/classify HTTP/1.1\r\nHost: t\r\nContent-Type: audio/wav\r\n"
    reply = _raw_request(server, head + b"Content-Length: 10000000000\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413")
    # A chunked body is refused once it passes the limit, although it never ends.
    block = b"\x00" * 65536
    chunks = [b"%x\r\n" % len(block) + block + b"\r\n"] * (LIMIT // len(block) + 2)
    reply = _raw_request(server, head + b"Transfer-Encoding: chunked\r\n\r\n", chunks)
    assert reply.startswith(b"HTTP/1.1 413")


def _load_bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "load.py"
    spec = importlib.util.spec_from_file_location("bench_load", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _rms_zcr(y: np.ndarray, sr: int) -> np.ndarray:
    return np.array([np.sqrt(np.mean(y**2)), np.mean(np.abs(np.diff(np.sign(y)))) / 2])


@pytest.fixture(scope="module")
def light_server(tmp_path_factory):
    """A server whose model costs microseconds, so the load test measures the service itself.

    Its feature set is registered in this process, which is where the threaded server runs.
    """
    register_feature_set(FeatureSet("test-rms-zcr", ("rms", "zcr"), _rms_zcr), replace=True)
    styles = ("classical", "rock", "ambient")
    X = [_rms_zcr(synth.song(2.0, style=s, seed=i), 22050) for s in styles for i in range(3)]
    labels = [s for s in styles for _ in range(3)]
    model = create_model("logreg").fit(np.array(X), np.array(labels))
    card = ModelCard(
        model="logreg",
        params=model.get_params(),
        labels=list(model.classes_),
        sample_rate=22050,
        frontend={"kind": "features", "feature_set": "test-rms-zcr"},
        windowing={"window_s": 2.0, "hop_s": 2.0, "min_s": 1.0},
    )
    settings = ServiceSettings(tmp_dir=tmp_path_factory.mktemp("light-tmp"), warm_up=False)
    with background_server(create_app(Bundle(card, model), settings)) as url:
        yield url


def test_load_200_requests_at_concurrency_8_has_no_server_errors(light_server):
    bench = _load_bench()
    report = asyncio.run(bench.hammer(light_server, wav_bytes(2.0), requests=200, concurrency=8))
    print(report.summary())
    assert report.statuses == {200: 200}
    assert report.server_errors == 0


# --- the ``genrelab serve`` command ----------------------------------------------------------


def test_serve_command_binds_loopback_and_stops_on_sigint(tiny_bundle):
    command = [sys.executable, "-c", "from genrelab.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "serve", "-m", str(tiny_bundle), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for line in process.stderr:  # uvicorn announces the address it bound
            if match := re.search(r"running on (http://\S+)", line):
                url = match.group(1)
                break
        assert url is not None and url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/healthz", timeout=10).json()["model"] == "tiny"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "-m", "/no/bundle"], "no model bundle at /no/bundle"),
        (["serve", "--port", "70000"], "--port"),
    ],
)
def test_serve_usage_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(lines) == 1 and message in lines[0]


def test_serve_without_the_extra_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    with pytest.raises(SystemExit) as exit_info:
        main(["serve"])
    assert exit_info.value.code == 2
    assert "pip install 'genrelab[serve]'" in capsys.readouterr().err


def test_random_windows_vote_like_the_library(client, tiny_bundle):
    from genrelab.pipeline import Classifier

    body = wav_bytes(12.0, seed=4)
    response = client.post("/v1/classify?aggregate=random:3:7", content=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert len(data["windows"]) == 3
    y = synth.song(12.0, style="rock", seed=4)
    expected = Classifier(tiny_bundle).classify(y, 22050, "random:3:7")
    assert data["genre"] == expected.genre
    assert [w["start"] for w in data["windows"]] == [w.start for w in expected.windows]
