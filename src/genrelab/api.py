"""Three lines from install to an answer: :func:`classify` and :func:`load_model`.

>>> import genrelab
>>> result = genrelab.classify(genrelab.synth.song(5.0, style="rock", seed=1), sr=22050)
>>> result.genre in genrelab.load_model().labels
True
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from genrelab.inference import Classification, Classifier


def load_model(
    model: str | Path | None = None, labels: str | Sequence[str] | None = None
) -> Classifier:
    """Load a model bundle once per process, ready to classify.

    Parameters
    ----------
    model : str or Path, optional
        A bundle folder, or ``None`` / ``"default"`` for the embedded 11-genre model.
    labels : str or sequence of str, optional
        Answer over these of the model's labels only (``"gtzan"``, ``"rock,jazz"`` or a
        list); probabilities are renormalised over them.

    Returns
    -------
    Classifier
        With ``.classify(path_or_array, sr=None)``, ``.classify_many(paths)``, ``.labels``
        and ``.bundle.card`` (what it was trained and validated on).

    Examples
    --------
    >>> import genrelab
    >>> genrelab.load_model(labels="gtzan").labels[:3]
    ['blues', 'classical', 'country']
    """
    key = tuple(labels) if isinstance(labels, list | tuple) else labels
    return _load(None if model in (None, "default") else str(model), key)


@lru_cache(maxsize=8)
def _load(model: str | None, labels: str | tuple[str, ...] | None) -> Classifier:
    from genrelab.inference import Classifier

    return Classifier(model, labels=labels)


def classify(
    audio: str | Path | np.ndarray,
    sr: int | None = None,
    model: str | Path | None = None,
    labels: str | Sequence[str] | None = None,
    aggregate: str = "mean",
) -> Classification:
    """The genre of a file or of a mono signal, with all probabilities and a timeline.

    Parameters
    ----------
    audio : str, Path or numpy.ndarray
        A path to any common audio format, or a mono float signal (then give ``sr``).
    sr : int, optional
        The signal's sample rate; required for an array, ignored for a file.
    model, labels
        As for :func:`load_model`.
    aggregate : str
        ``mean`` (default), ``vote``, ``middle`` or ``random:N[:SEED]``.

    Returns
    -------
    Classification
        ``genre``, ``confidence``, ``probabilities``, ``windows`` (the timeline) and
        ``tags``; ``to_dict()`` gives the JSON shape of ``genrelab classify --json``.

    Examples
    --------
    >>> import genrelab
    >>> y = genrelab.synth.song(4.0, style="classical", seed=0)
    >>> result = genrelab.classify(y, sr=22050, labels=["classical", "rock"])
    >>> sorted(result.probabilities)
    ['classical', 'rock']
    """
    return load_model(model, labels).classify(audio, sr, aggregate)
