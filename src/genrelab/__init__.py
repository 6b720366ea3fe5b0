"""genrelab: music genre classification, from audio file to genre, and the tools to train models."""

from genrelab.errors import AudioError, DataError, GenrelabError, ModelError

__version__ = "0.1.0"

__all__ = ["AudioError", "DataError", "GenrelabError", "ModelError", "__version__"]
