"""The genre classification web service: FastAPI app, upload limits and the web page.

Needs the ``serve`` extra (fastapi, uvicorn, python-multipart).
"""

from genrelab.service.app import ServiceSettings, create_app
from genrelab.service.server import background_server, build_server

__all__ = ["ServiceSettings", "background_server", "build_server", "create_app"]
