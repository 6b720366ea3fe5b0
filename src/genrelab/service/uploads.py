"""Receive an upload into a private temporary file, enforcing size, time and rate limits.

The body is never held in memory and never fully read when too large: a declared
``Content-Length`` over the limit is refused before reading, and a body that grows past the
limit (chunked, or lying about its length) is refused at the chunk that crosses it. A
multipart body is parsed as it streams and only its ``file`` field is written to disk; one
without its closing boundary (a cut upload) is refused rather than classified from part of
the audio.

Time: a client that sends nothing for ``read_timeout_s`` is answered 408 (400 when the body
stopped short of its ``Content-Length``), and after that same grace period a body must keep
arriving at ``min_rate`` bytes per second on average, so a client trickling a byte every few
seconds cannot hold a connection and an upload slot for long.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

#: Content types accepted as a raw audio body (besides ``audio/*`` and ``video/*``).
RAW_TYPES = {"application/octet-stream", "application/ogg", ""}


#: How often a waiting read wakes up to notice a server shutdown.
POLL_S = 0.25


class UploadError(Exception):
    """An upload refused with an HTTP status and a one-line message.

    ``body_read`` is False when the refusal comes before the whole body arrived: the
    connection must then be closed, as the rest of the body would be read as a new request.
    """

    def __init__(self, status: int, message: str, *, body_read: bool = False):
        super().__init__(message)
        self.status = status
        self.body_read = body_read


@dataclass(frozen=True)
class BodyLimits:
    #: Largest accepted body in bytes (413 beyond).
    max_bytes: int
    #: Longest wait for more body bytes, and the grace period before ``min_rate`` applies.
    read_timeout_s: float
    #: Bytes per second a body must average once ``read_timeout_s`` has passed (0: no minimum).
    min_rate: float


@dataclass(frozen=True)
class Upload:
    path: Path
    #: The client's file name, for messages only (never used as a path).
    filename: str
    size: int


def safe_name(name: str | None) -> str:
    """A display name: the last path component, printable, at most 120 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:120] or "upload"


class _MultipartSink:
    """Writes the first part named ``file`` to ``out`` and drops every other part."""

    def __init__(self, boundary: bytes, out: BinaryIO):
        self.out = out
        self.filename: str | None = None
        self.found = False
        self._writing = False
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self.complete = False
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done,
                "on_part_data": self._data,
                "on_part_end": self._end,
                "on_end": self._closed,
            },
        )

    def _begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file" and not self.found:
            self.found = self._writing = True
            filename = options.get(b"filename")
            self.filename = filename.decode("utf-8", "replace") if filename else None

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._writing:
            self.out.write(data[start:end])

    def _end(self) -> None:
        self._writing = False

    def _closed(self) -> None:
        self.complete = True

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError as err:
            raise UploadError(400, f"malformed multipart body ({err})") from err

    def finish(self) -> None:
        # python-multipart's finalize() accepts a body cut short, so check the closing boundary.
        if not self.complete:
            raise UploadError(
                400,
                "the multipart body ends without its closing boundary (a cut upload); "
                "send the whole form",
                body_read=True,
            )
        if not self.found:
            raise UploadError(
                422,
                "the form has no 'file' field; send the audio as field 'file'",
                body_read=True,
            )


async def receive_upload(
    request: Request,
    directory: Path,
    limits: BodyLimits,
    stop_at: Callable[[], float | None] = lambda: None,
) -> Upload:
    """Stream the request's audio into a new file under ``directory``; the caller deletes it.

    ``stop_at`` gives the event-loop time by which a shutting-down server wants the upload
    over (``None`` while it runs normally); an upload still arriving then is answered 503.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise UploadError(400, "invalid Content-Length header")
        if int(declared) > limits.max_bytes:
            raise UploadError(413, _too_large(limits.max_bytes))
    media, options = parse_options_header(request.headers.get("content-type", ""))
    kind = media.decode("latin-1").lower()
    multipart = kind == "multipart/form-data"
    if not (multipart or kind in RAW_TYPES or kind.startswith(("audio/", "video/"))):
        raise UploadError(
            415,
            f"unsupported content type {kind!r}: send multipart/form-data with a 'file' field, "
            "or the raw audio bytes",
        )
    if multipart and not options.get(b"boundary"):
        raise UploadError(400, "multipart body without a boundary")
    expected = None if declared is None else int(declared)
    fd, name = tempfile.mkstemp(prefix="upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            sink = _MultipartSink(options[b"boundary"], fh) if multipart else None
            received = 0
            async with aclosing(_body(request, limits, expected, stop_at)) as chunks:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > limits.max_bytes:
                        raise UploadError(413, _too_large(limits.max_bytes))
                    if sink is None:
                        fh.write(chunk)
                    else:
                        sink.feed(chunk)
            if sink is not None:
                sink.finish()
        size = path.stat().st_size
        if size == 0:
            raise UploadError(422, "the upload is empty (0 bytes of audio)", body_read=True)
        filename = sink.filename if sink is not None else request.headers.get("x-filename")
        return Upload(path, safe_name(filename), size)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def _body(
    request: Request,
    limits: BodyLimits,
    expected: int | None,
    stop_at: Callable[[], float | None],
) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, under the read timeout, minimum rate and shutdown.

    One ``receive()`` is kept pending across wake-ups (never cancelled and re-issued while
    data may be arriving), so no chunk is lost; it is cancelled only when the upload is
    abandoned.
    """
    loop = asyncio.get_running_loop()
    start = last = loop.time()
    received = 0
    pending: asyncio.Future | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(request.receive())
            now = loop.time()
            idle_until = last + limits.read_timeout_s
            rate_until = start + max(
                limits.read_timeout_s,
                received / limits.min_rate if limits.min_rate > 0 else float("inf"),
            )
            if rate_until >= idle_until - POLL_S:  # due together: a silent client has stalled
                rate_until = float("inf")
            stop = stop_at()
            until = min(idle_until, rate_until, float("inf") if stop is None else stop)
            await asyncio.wait({pending}, timeout=max(0.0, min(until - now, POLL_S)))
            if pending.done():
                message, pending = pending.result(), None
                if message["type"] == "http.disconnect":
                    raise UploadError(400, "the client disconnected during the upload")
                chunk = message.get("body", b"")
                if chunk:
                    received += len(chunk)
                    last = loop.time()
                    yield chunk
                if not message.get("more_body", False):
                    return
                continue
            now = loop.time()
            if stop is not None and now >= stop:
                raise UploadError(503, "the server is shutting down; retry shortly")
            if now >= idle_until:
                raise _stalled(received, expected, limits.read_timeout_s)
            if now >= rate_until:
                raise UploadError(
                    408,
                    f"the upload is too slow: {received} bytes in {now - start:.0f} s, under "
                    f"this server's minimum of {limits.min_rate / 1024:g} KiB/s",
                )
    finally:
        if pending is not None:
            pending.cancel()


def _stalled(received: int, expected: int | None, timeout_s: float) -> UploadError:
    if expected is not None and received < expected:
        return UploadError(
            400,
            f"the body stopped after {received} of the {expected} bytes its Content-Length "
            f"declares (nothing more for {timeout_s:g} s)",
        )
    return UploadError(408, f"no upload data for {timeout_s:g} s; the request timed out")


def _too_large(limit: int) -> str:
    return f"the upload is larger than this server's limit of {limit / 2**20:g} MB"
