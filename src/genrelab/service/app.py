"""The HTTP API and web page: upload (or record) a track, get its genre, timeline and spectrogram.

Safety: uploads stream into a private temporary folder under a size limit and are deleted
after use; no endpoint takes a path, so no server file can be read through the API. Work
runs in a pool of ``workers`` threads, and at most ``workers + queue`` requests are admitted
at once (others get 503 at once): memory stays under ``workers`` decoded tracks of at most
``max_audio_s`` each, and disk under ``workers + queue`` uploads. A slot is freed when its
job really ends, even if the client was answered with a timeout before.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from genrelab import __version__
from genrelab.batch.engine import log_probabilities, signal_tags
from genrelab.errors import AudioError, GenrelabError
from genrelab.inference import Classifier
from genrelab.models.bundle import Bundle
from genrelab.service.render import mel_png
from genrelab.service.uploads import Upload, UploadError, receive_upload

T = TypeVar("T")


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
    #: Requests admitted beyond ``workers`` (uploading or waiting); more get 503.
    queue: int = 16
    #: Only the first this many seconds of a track are analysed.
    max_audio_s: float = 600.0
    #: Where the private upload folder is created (system temp by default).
    tmp_dir: Path | None = None
    #: Classify a synthetic clip at start-up, so the first user does not wait for JIT warm-up.
    warm_up: bool = True


class Aggregate(StrEnum):
    mean = "mean"
    vote = "vote"
    middle = "middle"


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
    filename: str
    model: str
    genre: str
    confidence: float
    probabilities: dict[str, float]
    logits: dict[str, float] = Field(description="Natural log of each probability.")
    timeline: list[Window]
    tags: list[Tag] | None = Field(None, description="musicnn tags, when the tagger is installed.")
    duration_s: float | None = Field(description="The track's length, when its header gives it.")
    analysed_s: float
    truncated: bool = Field(description="Only the first max_audio_s seconds were analysed.")
    spectrogram_png: str | None = Field(None, description="Base64 PNG, with ?spectrogram=true.")
    elapsed_ms: float


class ErrorResponse(BaseModel):
    error: str


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers


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

    def __init__(self, classifier: Classifier, model_id: str, settings: ServiceSettings):
        self.classifier = classifier
        self.model_id = model_id
        self.settings = settings
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="genrelab")
        self.slots = threading.BoundedSemaphore(settings.workers + settings.queue)
        self.uploads = Path(tempfile.mkdtemp(prefix="genrelab-uploads-", dir=settings.tmp_dir))

    def warm_up(self) -> None:
        from genrelab import synth

        sr = self.classifier.sr
        y = synth.song(max(self.classifier.min_s, 1.0), sr=sr, seed=0)
        if self.classifier.classify_signal(y, sr).tags is None:
            signal_tags(y, sr)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.uploads, ignore_errors=True)

    async def run(self, request: Request, work: Callable[[Upload], T]) -> T:
        """Admit, receive the upload, run ``work`` on a worker; the upload is always deleted."""
        if not self.slots.acquire(blocking=False):
            raise ApiError(503, "the server is busy; retry shortly", {"Retry-After": "2"})
        try:
            upload = await receive_upload(request, self.uploads, self.settings.max_upload_bytes)
        except UploadError as err:
            self.slots.release()
            raise ApiError(err.status, str(err)) from err
        except BaseException:
            self.slots.release()
            raise
        future = asyncio.get_running_loop().run_in_executor(self.pool, work, upload)
        future.add_done_callback(lambda done: self._finished(done, upload))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.settings.request_timeout_s)
        except TimeoutError as err:
            raise ApiError(504, "the analysis took too long") from err
        except GenrelabError as err:  # bad, unsupported or too short audio
            raise ApiError(422, str(err).replace(str(upload.path), upload.filename)) from err

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
        result = classifier.classify_signal(y, sr, aggregate, path=upload.filename)
        # The default model's own musicnn pass gives the tags; other models tag separately.
        tags = result.tags if result.tags is not None else signal_tags(y, sr)
        analysed = y.size / sr
        return {
            "filename": upload.filename,
            "model": self.model_id,
            "genre": result.genre,
            "confidence": result.confidence,
            "probabilities": result.probabilities,
            "logits": log_probabilities(result.probabilities),
            "timeline": [asdict(w) for w in result.windows],
            "tags": None if tags is None else [{"tag": t, "score": s} for t, s in tags],
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
    if isinstance(model, Bundle) or model is None or str(model) == "default":
        model_id = "default" if not isinstance(model, Bundle) else model.card.model
    else:
        model_id = Path(model).name
    service = _Service(classifier, model_id, settings)
    page = {name: _asset(name) for name in ("index.html", "app.js", "style.css")}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.warm_up:
            service.pool.submit(service.warm_up)
        yield
        service.close()

    app = FastAPI(
        title="genrelab",
        version=__version__,
        summary="Music genre classification: upload a track, get its genre.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, 500)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, 422)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "model": model_id, "version": __version__}

    @app.get("/v1/models", tags=["service"])
    def models() -> dict[str, Any]:
        card = classifier.bundle.card
        return {
            "models": [
                {
                    "id": model_id,
                    "model": card.model,
                    "labels": card.labels,
                    "sample_rate": card.sample_rate,
                    "window_s": classifier.window_s,
                    "hop_s": classifier.hop_s,
                    "min_s": classifier.min_s,
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
        aggregate: Aggregate = Aggregate.mean,
        spectrogram: bool = Query(False, description="Include a base64 mel spectrogram PNG."),
        labels: str | None = Query(
            None,
            description="Answer over these of the model's labels only (comma-separated, or a "
            "preset such as gtzan); probabilities are renormalised.",
        ),
    ) -> dict[str, Any]:
        """Classify an uploaded track: multipart field ``file``, or the raw audio as the body."""
        try:
            chosen = classifier.restricted(labels)
        except GenrelabError as err:
            raise ApiError(422, str(err)) from err
        return await service.run(
            request, lambda upload: service.classify(upload, aggregate.value, spectrogram, chosen)
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
