"""musicnn tags for a track whose model does not compute them on its way to the genre.

Tags are an extra and never fail a classification: audio the tagger refuses (shorter than one
patch) gets ``None``, an unexpected tagger failure is logged. A model whose front end already
runs the tagger (the default) gives its tags for free (:meth:`Pipeline.tags_from`).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from genrelab.errors import GenrelabError

log = logging.getLogger(__name__)

#: Optional module (musicnn tags); used when present, never required.
TAGGING_MODULE = "genrelab.pretrained.tagging"
#: Evenly spread 3 s excerpts that stand for a whole track when tagging it.
TAG_EXCERPTS = 24
TAG_RATE = 16000
EXCERPT = 3 * TAG_RATE

Tags = list[tuple[str, float]]


def tagging_available() -> bool:
    return importlib.util.find_spec(TAGGING_MODULE) is not None


def excerpt_starts(total: int) -> np.ndarray:
    """Starts of the excerpts that stand for a track of ``total`` samples at ``TAG_RATE``."""
    count = max(1, min(TAG_EXCERPTS, total // EXCERPT))
    return np.linspace(0, max(total - EXCERPT, 0), count).round().astype(int)


def tags_of(source: str | Path | np.ndarray, sr: int | None = None, k: int = 5) -> Tags | None:
    """The ``k`` top tags of a file (streamed once, only the excerpts kept, so an hour costs
    what 72 s do) or of a mono signal at ``sr`` Hz; ``None`` when there are none to give."""
    if not tagging_available():
        return None
    try:
        if isinstance(source, str | Path):
            y = _file_excerpts(source)
        else:
            import soxr

            signal = np.asarray(source, dtype=np.float32)
            if sr != TAG_RATE:
                signal = soxr.resample(signal, sr, TAG_RATE, quality="HQ").astype(np.float32)
            y = np.concatenate([signal[s : s + EXCERPT] for s in excerpt_starts(signal.size)])
        from genrelab.pretrained.tagging import top_tags

        return [(tag, float(score)) for tag, score in top_tags(y, TAG_RATE, k=k)]
    except GenrelabError:
        return None
    except Exception as err:
        log.warning("tagging failed: %s: %s", type(err).__name__, err)
        return None


def _file_excerpts(path: str | Path) -> np.ndarray:
    from genrelab.audio import info, stream

    duration = info(path).duration
    total = round(duration * TAG_RATE) if duration else EXCERPT * TAG_EXCERPTS
    starts = excerpt_starts(total)
    excerpts, position = [], 0
    buffer = np.zeros(0, dtype=np.float32)
    for block in stream(path, sr=TAG_RATE):
        buffer = np.concatenate([buffer, block])
        while (
            len(excerpts) < len(starts)
            and starts[len(excerpts)] + EXCERPT <= position + buffer.size
        ):
            lo = starts[len(excerpts)] - position
            excerpts.append(buffer[lo : lo + EXCERPT])
        if len(excerpts) == len(starts):
            break
        keep = min(starts[len(excerpts)] - position, buffer.size)
        buffer, position = buffer[keep:], position + keep
    return np.concatenate(excerpts) if excerpts else buffer  # shorter than expected: all of it
