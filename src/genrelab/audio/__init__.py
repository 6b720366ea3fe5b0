"""Audio input: decode any common format to float32, stream long files, cut analysis windows."""

from genrelab.audio.io import AUDIO_EXTENSIONS, AudioInfo, info, load, stream
from genrelab.audio.windows import (
    Window,
    fixed_windows,
    iter_windows,
    middle_window,
    random_windows,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioInfo",
    "Window",
    "fixed_windows",
    "info",
    "iter_windows",
    "load",
    "middle_window",
    "random_windows",
    "stream",
]
