"""Receive an upload into a private temporary file, enforcing the size limit while it streams.

The body is never held in memory and never fully read when too large: a declared
``Content-Length`` over the limit is refused before reading, and a body that grows past the
limit (chunked, or lying about its length) is refused at the chunk that crosses it. A
multipart body is parsed as it streams and only its ``file`` field is written to disk.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

#: Content types accepted as a raw audio body (besides ``audio/*`` and ``video/*``).
RAW_TYPES = {"application/octet-stream", "application/ogg", ""}


class UploadError(Exception):
    """An upload refused with an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError as err:
            raise UploadError(400, f"malformed multipart body ({err})") from err

    def finish(self) -> None:
        try:
            self.parser.finalize()
        except MultipartParseError as err:
            raise UploadError(400, f"malformed multipart body ({err})") from err
        if not self.found:
            raise UploadError(422, "the form has no 'file' field; send the audio as field 'file'")


async def receive_upload(request: Request, directory: Path, limit: int) -> Upload:
    """Stream the request's audio into a new file under ``directory``; the caller deletes it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise UploadError(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise UploadError(413, _too_large(limit))
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
    fd, name = tempfile.mkstemp(prefix="upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            sink = _MultipartSink(options[b"boundary"], fh) if multipart else None
            received = 0
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise UploadError(413, _too_large(limit))
                if sink is None:
                    fh.write(chunk)
                else:
                    sink.feed(chunk)
            if sink is not None:
                sink.finish()
        size = path.stat().st_size
        if size == 0:
            raise UploadError(422, "the upload is empty (0 bytes of audio)")
        filename = sink.filename if sink is not None else request.headers.get("x-filename")
        return Upload(path, safe_name(filename), size)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _too_large(limit: int) -> str:
    return f"the upload is larger than this server's limit of {limit / 2**20:g} MB"
