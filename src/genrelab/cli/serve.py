"""``genrelab serve``: the HTTP API and web page on one model bundle."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Annotated

import typer

from genrelab.cli.app import app
from genrelab.cli.common import TrustBundle, TrustRemoteCode, allow_trust, err
from genrelab.errors import GenrelabError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model bundle folder, or 'default'.")
    ] = "default",
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback exposes the service.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port (0: any free port).")
    ] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Tracks analysed at once (threads).")] = 2,
    queue: Annotated[
        int, typer.Option(min=0, help="Received uploads waiting for a worker before 503.")
    ] = 16,
    max_upload_mb: Annotated[
        float, typer.Option(min=0.001, help="Largest upload accepted (413 beyond).")
    ] = 50.0,
    decode_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds of decoding before an upload is refused.")
    ] = 30.0,
    max_audio_s: Annotated[
        float, typer.Option(min=1.0, help="Only this many seconds of each upload are analysed.")
    ] = 600.0,
    max_receiving: Annotated[
        int, typer.Option(min=1, help="Uploads received at once (they hold no worker); 503 beyond.")
    ] = 32,
    read_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds without upload data before 408 (400 if short of Content-Length); "
            "also the grace before --min-upload-rate applies.",
        ),
    ] = 30.0,
    min_upload_rate: Annotated[
        float, typer.Option(min=0.0, help="KiB/s an upload must average after the grace (0: off).")
    ] = 16.0,
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds a SIGTERM/SIGINT waits for uploads (half) and analyses."
        ),
    ] = 10.0,
    trust_bundle: TrustBundle = False,
    trust_remote_code: TrustRemoteCode = False,
) -> None:
    """Serve the genre API (POST /v1/classify, docs at /docs) and the web page at /."""
    try:
        import uvicorn  # noqa: F401  (checked here for the message below)

        from genrelab.service import ServiceSettings, build_server, create_app
    except ImportError as error:
        raise GenrelabError(
            f"genrelab serve needs {error.name}: pip install 'genrelab[serve]'"
        ) from error
    allow_trust(trust_bundle, trust_remote_code)
    settings = ServiceSettings(
        max_upload_bytes=round(max_upload_mb * 2**20),
        decode_timeout_s=decode_timeout,
        workers=workers,
        queue=queue,
        max_audio_s=max_audio_s,
        max_receiving=max_receiving,
        read_timeout_s=read_timeout,
        min_upload_rate=min_upload_rate * 1024,
        shutdown_timeout_s=shutdown_timeout,
    )
    application = create_app(model, settings)
    if not _is_loopback(host):
        err.print(f"warning: serving on {host}: other machines can reach this service")
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        build_server(application, host, port, log_level="info").run()
