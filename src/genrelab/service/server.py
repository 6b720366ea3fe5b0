"""Run the app on uvicorn: ``genrelab serve`` and a background thread (tests, benchmarks).

Both go through :func:`build_server`, so the limits a test checks are the ones users get:
the graceful-shutdown deadline comes from the app's ``ServiceSettings``, and the service is
told when shutdown begins, so uploads still arriving and analyses still running are answered
(503, JSON) within that deadline instead of being cut off by uvicorn's cancellation.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from genrelab.errors import GenrelabError

if TYPE_CHECKING:
    import uvicorn


def build_server(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, log_level: str = "info"
) -> uvicorn.Server:
    """A uvicorn server for ``app`` (from :func:`~genrelab.service.create_app`)."""
    import uvicorn

    service = app.state.service

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            service.stop()
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=service.settings.shutdown_timeout_s,
    )
    return Server(config)


@contextmanager
def background_server(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 30.0
) -> Iterator[str]:
    """Serve ``app`` while the block runs and yield its base URL; port 0 picks a free port."""
    server = build_server(app, host, port, log_level="warning")
    thread = threading.Thread(target=server.run, name="genrelab-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise GenrelabError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join()
