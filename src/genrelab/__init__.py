"""genrelab: music genre classification, from audio file to genre, and the tools to train models.

>>> import genrelab
>>> genrelab.classify("song.mp3").genre  # doctest: +SKIP
'rock'
"""

from genrelab import synth
from genrelab._version import __version__
from genrelab.api import classify, load_model, tags
from genrelab.errors import AudioError, DataError, GenrelabError, ModelError

__all__ = [
    "AudioError",
    "DataError",
    "GenrelabError",
    "ModelError",
    "__version__",
    "classify",
    "load_model",
    "synth",
    "tags",
]
