"""The HTTP API and web page: upload (or record) a track, get its genre, timeline and spectrogram.

Safety: uploads stream into a private temporary folder under size, time and rate limits and
are deleted after use; no endpoint takes a path, so no server file can be read through the
API. A request first receives its whole body (at most ``max_receiving`` at once), and only
then takes one of ``workers + queue`` analysis slots, so slow uploads never hold analysis
capacity; beyond either limit the answer is 503 at once. Work runs in a pool of ``workers``
threads: memory stays under ``workers`` decoded tracks of at most ``max_audio_s`` each, and
disk under ``max_receiving + workers + queue`` uploads. A slot is freed when its job really
ends, even if the client was answered with a timeout before.

Every non-2xx answer is a JSON ``{"error": ...}``; an unexpected failure is logged and
answered 500 without dropping the keep-alive connection. ``GET /readyz`` says 503 while new
uploads would be refused (saturated or shutting down); ``GET /healthz`` stays 200 while the
process is alive and reports the same counts.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genrelab._version import __version__
from genrelab.aggregate import AGGREGATE_HELP, parse_aggregate
from genrelab.errors import AudioError, GenrelabError
from genrelab.models.bundle import Bundle
from genrelab.pipeline import Classifier
from genrelab.service.docs import offline_docs_app
from genrelab.service.render import mel_png
from genrelab.service.uploads import BodyLimits, Upload, UploadError, receive_upload

T = TypeVar("T")

log = logging.getLogger(__name__)

#: How often a request waiting for its analysis wakes up to notice a server shutdown.
POLL_S = 0.25


@dataclass(frozen=True)
class ServiceSettings:
    #: Largest accepted request body (413 beyond), checked while it streams.
    max_upload_bytes: int = 50 * 2**20
    #: Decoding that takes longer than this is abandoned (422).
    decode_timeout_s: float = 30.0
    #: A request whose work takes longer is answered 504 (its slot stays taken until it ends).
    request_timeout_s: float = 120.0
    #: Tracks analysed at once (threads).
    workers: int = 2
    #: Received uploads that may wait for a worker; more get 503.
    queue: int = 16
    #: Uploads being received at once (they hold no analysis slot); more get 503.
    max_receiving: int = 32
    #: Longest wait for more of a request body (408; 400 when it stopped short of its
    #: Content-Length); also the grace period before ``min_upload_rate`` applies.
    read_timeout_s: float = 30.0
    #: Bytes per second an upload must average after ``read_timeout_s`` (0: no minimum).
    min_upload_rate: float = 16 * 1024
    #: On SIGTERM/SIGINT: uploads still arriving get half of this, running analyses all of
    #: it; what is left is then cancelled.
    shutdown_timeout_s: float = 10.0
    #: Only the first this many seconds of a track are analysed.
    max_audio_s: float = 600.0
    #: Where the private upload folder is created (system temp by default).
    tmp_dir: Path | None = None
    #: Classify a synthetic clip at start-up, so the first user does not wait for JIT warm-up.
    warm_up: bool = True


class Window(BaseModel):
    start: float
    end: float
    genre: str
    confidence: float
    probabilities: dict[str, float]


class Tag(BaseModel):
    tag: str
    score: float


class ClassifyResponse(BaseModel):
    """The library's result schema (``Result.to_dict()``) plus what the upload was."""

    path: str = Field(description="The uploaded file's name.")
    model: str
    labels: list[str] = Field(description="The labels answered over.")
    aggregate: str
    genre: str
    confidence: float
    probabilities: dict[str, float]
    logits: dict[str, float] = Field(description="Natural log of each probability.")
    windows: list[Window] = Field(description="The timeline: one entry per window heard.")
    tags: list[Tag] | None = Field(None, description="musicnn tags, when the tagger is installed.")
    error: None = None
    duration_s: float | None = Field(description="The track's length, when its header gives it.")
    analysed_s: float
    truncated: bool = Field(description="Only the first max_audio_s seconds were analysed.")
    spectrogram_png: str | None = Field(None, description="Base64 PNG, with ?spectrogram=true.")
    elapsed_ms: float


class ErrorResponse(BaseModel):
    error: str


class ApiError(Exception):
    """An answer ``{"error": message}``; ``close`` ends the connection after it (body unread)."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
        if close:
            self.headers["Connection"] = "close"


def _busy(close: bool) -> ApiError:
    return ApiError(503, "the server is busy; retry shortly", {"Retry-After": "2"}, close=close)


class _Slots:
    """A counter of ``capacity`` slots taken without waiting (a semaphore that says its use)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.used >= self.capacity:
                return False
            self.used += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self.used <= 0:
                raise ValueError("released more slots than were taken")
            self.used -= 1

    @property
    def full(self) -> bool:
        return self.used >= self.capacity


class _JsonErrors:
    """Answer an unexpected exception with a JSON 500, logged, instead of re-raising it.

    Starlette's own last-resort handler re-raises after answering, and uvicorn then drops
    the keep-alive connection; this middleware sits inside it and ends the story here.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if started:
                raise
            error = {"error": f"internal error ({type(exc).__name__})"}
            await JSONResponse(error, 500)(scope, receive, send)


_AUDIO_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "audio/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "A malformed or cut upload (no closing boundary, body short of its length).",
        408: "The upload stalled or arrived slower than the minimum rate.",
        413: "The upload is larger than the limit.",
        415: "Not an audio upload.",
        422: "The audio could not be decoded, is too short, or took too long to decode.",
        503: "The server is busy; retry later.",
        504: "The analysis took too long.",
    }.items()
}


def decode_upload(
    path: Path, sr: int, timeout_s: float, max_s: float
) -> tuple[np.ndarray, float | None]:
    """Decode at most ``max_s`` seconds at ``sr``, giving up after ``timeout_s`` of decoding."""
    from genrelab.audio import info, stream

    deadline = time.monotonic() + timeout_s
    meta = info(path)
    blocks = []
    for block in stream(path, sr, block_seconds=10.0, duration=_clip(meta.duration, max_s)):
        blocks.append(block)
        if time.monotonic() > deadline:
            raise AudioError(f"decoding took longer than {timeout_s:g} s; try a shorter file")
    return np.concatenate(blocks), meta.duration


def _clip(duration: float | None, max_s: float) -> float | None:
    return max_s if duration is None or duration > max_s else None


class _Service:
    """The loaded model, the worker pool, admission slots and the private upload folder."""

    def __init__(self, classifier: Classifier, settings: ServiceSettings):
        self.classifier = classifier
        self.settings = settings
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="genrelab")
        #: Analysis slots: received uploads being analysed or waiting for a worker.
        self.slots = _Slots(settings.workers + settings.queue)
        #: Uploads being received.
        self.receiving = _Slots(settings.max_receiving)
        self.uploads = Path(tempfile.mkdtemp(prefix="genrelab-uploads-", dir=settings.tmp_dir))
        #: Event-loop time when shutdown began (``None`` while serving).
        self.stopping_since: float | None = None

    def warm_up(self) -> None:
        from genrelab import synth

        sr = self.classifier.sr
        y = synth.song(max(self.classifier.pipelines[0].windowing.min_s, 1.0), sr=sr, seed=0)
        self.classifier.classify(y, sr, tags=True)

    def stop(self) -> None:
        """Shutdown began: refuse new work, give uploads and analyses their share of time."""
        self.stopping_since = asyncio.get_running_loop().time()

    def _stop_at(self, share: float) -> float | None:
        if self.stopping_since is None:
            return None
        return self.stopping_since + share * self.settings.shutdown_timeout_s

    def readiness(self) -> dict[str, Any]:
        """Whether a new upload would be admitted now, and the counts behind the answer."""
        stopping = self.stopping_since is not None
        return {
            "ready": not (self.slots.full or self.receiving.full or stopping),
            "analysing": self.slots.used,
            "analysis_slots": self.slots.capacity,
            "receiving": self.receiving.used,
            "receive_slots": self.receiving.capacity,
            "stopping": stopping,
        }

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.uploads, ignore_errors=True)

    async def run(self, request: Request, work: Callable[[Upload], T]) -> T:
        """Receive the upload, then take an analysis slot and run ``work`` on a worker.

        The body is read before an analysis slot is taken, so a slow client holds only a
        receive slot, and only as long as the read timeout and minimum rate allow. The
        upload is always deleted.
        """
        if self.stopping_since is not None:
            raise ApiError(503, "the server is shutting down; retry shortly", close=True)
        if self.slots.full or not self.receiving.acquire():
            raise _busy(close=True)
        try:
            upload = await receive_upload(request, self.uploads, self._limits(), self._upload_stop)
        except UploadError as err:
            raise ApiError(err.status, str(err), close=not err.body_read) from err
        finally:
            self.receiving.release()
        if not self.slots.acquire():
            upload.path.unlink(missing_ok=True)
            raise _busy(close=False)
        future = asyncio.get_running_loop().run_in_executor(self.pool, work, upload)
        future.add_done_callback(lambda done: self._finished(done, upload))
        try:
            return await self._outcome(future)
        except GenrelabError as err:  # bad, unsupported or too short audio
            raise ApiError(422, str(err).replace(str(upload.path), upload.filename)) from err

    def _limits(self) -> BodyLimits:
        s = self.settings
        return BodyLimits(s.max_upload_bytes, s.read_timeout_s, s.min_upload_rate)

    def _upload_stop(self) -> float | None:
        return self._stop_at(0.5)

    async def _outcome(self, future: Awaitable[T]) -> T:
        """``future``'s result, or 504 after the request timeout, or 503 at shutdown's end.

        The job itself keeps running (threads cannot be interrupted) and frees its slot when
        it ends; only the client stops waiting. Shutdown is answered a little before uvicorn
        would cancel the request, so the client still gets a JSON answer.
        """
        loop = asyncio.get_running_loop()
        timeout_at = loop.time() + self.settings.request_timeout_s
        shielded = asyncio.shield(future)
        while True:
            stop = self._stop_at(0.9)
            until = min(timeout_at, float("inf") if stop is None else stop)
            await asyncio.wait({shielded}, timeout=max(0.0, min(until - loop.time(), POLL_S)))
            if shielded.done():
                return shielded.result()
            if stop is not None and loop.time() >= stop:
                raise ApiError(503, "the server shut down before the analysis finished")
            if loop.time() >= timeout_at:
                raise ApiError(504, "the analysis took too long")

    def _finished(self, future: asyncio.Future, upload: Upload) -> None:
        if not future.cancelled():
            future.exception()  # consumed here too, in case the client was answered 504
        upload.path.unlink(missing_ok=True)
        self.slots.release()

    def decode(self, upload: Upload) -> tuple[np.ndarray, float | None]:
        s = self.settings
        return decode_upload(upload.path, self.classifier.sr, s.decode_timeout_s, s.max_audio_s)

    def classify(
        self, upload: Upload, aggregate: str, spectrogram: bool, classifier: Classifier
    ) -> dict[str, Any]:
        started = time.perf_counter()
        y, duration = self.decode(upload)
        sr = classifier.sr
        result = classifier.classify(y, sr, aggregate, tags=True, name=upload.filename)
        analysed = y.size / sr
        return {
            **result.to_dict(),
            "duration_s": duration,
            "analysed_s": round(analysed, 3),
            "truncated": duration is not None and duration > analysed + 0.5,
            "spectrogram_png": (
                base64.b64encode(mel_png(y, sr)).decode("ascii") if spectrogram else None
            ),
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def spectrogram(self, upload: Upload) -> bytes:
        y, _ = self.decode(upload)
        return mel_png(y, self.classifier.sr)


def _asset(name: str) -> bytes:
    return (resources.files("genrelab.service") / "static" / name).read_bytes()


def create_app(
    model: str | Path | Bundle | None = None, settings: ServiceSettings | None = None
) -> FastAPI:
    """Build the app around one model bundle (``None``/"default": the embedded model)."""
    settings = settings or ServiceSettings()
    classifier = Classifier(model)
    model_id = classifier.model_id
    service = _Service(classifier, settings)
    page = {name: _asset(name) for name in ("index.html", "app.js", "style.css")}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.warm_up:
            service.pool.submit(service.warm_up)
        yield
        service.close()

    app = offline_docs_app(  # /docs and /redoc from local files, so they work offline
        title="genrelab",
        version=__version__,
        summary="Music genre classification: upload a track, get its genre.",
        lifespan=lifespan,
    )
    app.state.service = service

    app.add_middleware(_JsonErrors)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, 422)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        """Liveness: 200 while the process serves, with the readiness counts."""
        return {"status": "ok", "model": model_id, "version": __version__, **service.readiness()}

    @app.get(
        "/readyz",
        tags=["service"],
        responses={503: {"model": ErrorResponse, "description": "Saturated or stopping."}},
    )
    def readyz() -> JSONResponse:
        """Readiness: 503 while a new upload would be refused (saturated or shutting down)."""
        state = service.readiness()
        if state["ready"]:
            return JSONResponse(state)
        reason = "shutting down" if state["stopping"] else "saturated"
        return JSONResponse({"error": f"not ready: {reason}", **state}, 503)

    @app.get("/v1/models", tags=["service"])
    def models() -> dict[str, Any]:
        card, windowing = classifier.card, classifier.pipelines[0].windowing
        return {
            "models": [
                {
                    "id": model_id,
                    "model": card.model,
                    "labels": card.labels,
                    "sample_rate": card.sample_rate,
                    "window_s": windowing.window_s,
                    "hop_s": windowing.hop_s,
                    "min_s": windowing.min_s,
                    "frontend": card.frontend,
                    "description": card.description,
                    "validation": card.validation,
                }
            ],
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "max_audio_s": settings.max_audio_s,
            },
        }

    @app.post(
        "/v1/classify",
        response_model=ClassifyResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": _AUDIO_BODY},
        tags=["classify"],
    )
    async def classify(
        request: Request,
        aggregate: str = Query("mean", description=AGGREGATE_HELP),
        spectrogram: bool = Query(False, description="Include a base64 mel spectrogram PNG."),
        labels: str | None = Query(
            None,
            description="Answer over these of the model's labels only (comma-separated, or a "
            "preset such as gtzan); probabilities are renormalised.",
        ),
    ) -> dict[str, Any]:
        """Classify an uploaded track: multipart field ``file``, or the raw audio as the body."""
        try:  # bad options are refused before the upload is read
            parse_aggregate(aggregate)
            chosen = classifier.restricted(labels)
        except GenrelabError as err:
            raise ApiError(422, str(err)) from err
        return await service.run(
            request, lambda upload: service.classify(upload, aggregate, spectrogram, chosen)
        )

    @app.post(
        "/v1/spectrogram",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, **_ERRORS},
        openapi_extra={"requestBody": _AUDIO_BODY},
        tags=["classify"],
    )
    async def spectrogram(request: Request) -> Response:
        """The mel spectrogram of an uploaded track as a PNG."""
        png = await service.run(request, service.spectrogram)
        return Response(png, media_type="image/png")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> Response:
        return Response(page["index.html"], media_type="text/html; charset=utf-8")

    @app.get("/app.js", include_in_schema=False)
    def script() -> Response:
        return Response(page["app.js"], media_type="text/javascript; charset=utf-8")

    @app.get("/style.css", include_in_schema=False)
    def style() -> Response:
        return Response(page["style.css"], media_type="text/css; charset=utf-8")

    return app
