"""``/docs`` (Swagger UI) and ``/redoc`` that work offline, from fastapi-offline's packaged files.

FastAPI's own pages load their scripts from a CDN (and ReDoc's fonts from Google), so they are
blank without internet access. fastapi-offline serves Swagger UI and ReDoc from the package,
without Google fonts; one remote fetch remains, the "API docs by Redocly" logo that ReDoc's
bundle loads from cdn.redoc.ly with no option to stop it. Its address is blanked in the served
copy of the bundle: ReDoc then drops the image and keeps the link text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response
from fastapi_offline import FastAPIOffline

#: Where fastapi-offline serves its files (its default).
STATIC_URL = "/static-offline-docs"
#: The one remote address in ReDoc's standalone bundle that it fetches by itself.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def redoc_script() -> bytes:
    """fastapi-offline's ReDoc bundle without its remote logo (an empty ``src`` fails at once)."""
    bundle = resources.files("fastapi_offline") / "static" / "redoc.standalone.js"
    return bundle.read_bytes().replace(REDOC_LOGO, b"")


def offline_docs_app(**kwargs: Any) -> FastAPI:
    """A ``FastAPI(**kwargs)`` whose ``/docs`` and ``/redoc`` fetch nothing from the internet."""
    app = FastAPIOffline(redoc_url=None, static_url=STATIC_URL, **kwargs)

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/redoc.standalone.js", include_in_schema=False)
    def redoc_js() -> Response:
        return Response(redoc_script(), media_type="text/javascript; charset=utf-8")

    return app
