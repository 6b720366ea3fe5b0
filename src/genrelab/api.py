"""Three lines from install to an answer: :func:`classify`, :func:`load_model`, :func:`tags`.

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
    from genrelab.pipeline import Classifier, Result
    from genrelab.pretrained.tagging import TagReport


def load_model(
    model: str | Path | Sequence[str | Path] | None = None,
    labels: str | Sequence[str] | None = None,
) -> Classifier:
    """Load a model bundle (or an ensemble of them) once per process, ready to classify.

    Parameters
    ----------
    model : str, Path or a sequence of them, optional
        A bundle folder, or ``None`` / ``"default"`` for the embedded 11-genre model; several
        folders make an ensemble that averages their probabilities.
    labels : str or sequence of str, optional
        Answer over these of the model's labels only (``"gtzan"``, ``"rock,jazz"`` or a
        list); probabilities are renormalised over them.

    Returns
    -------
    Classifier
        With ``.classify(path_or_array, sr=None)``, ``.classify_many(paths)``, ``.labels``
        and ``.card`` (what it was trained and validated on).

    Examples
    --------
    >>> import genrelab
    >>> model = genrelab.load_model(labels="gtzan")
    >>> model.labels[:3]
    ['blues', 'classical', 'country']
    >>> model.card.sample_rate
    16000
    """
    if isinstance(model, list | tuple):
        key: str | tuple[str, ...] | None = tuple(str(m) for m in model)
    else:
        key = None if model in (None, "default") else str(model)
    wanted = tuple(labels) if isinstance(labels, list | tuple) else labels
    return _load(key, wanted)


@lru_cache(maxsize=8)
def _load(model: str | tuple[str, ...] | None, labels: str | tuple[str, ...] | None) -> Classifier:
    from genrelab.pipeline import Classifier

    return Classifier(list(model) if isinstance(model, tuple) else model, labels=labels)


def classify(
    audio: str | Path | np.ndarray,
    sr: int | None = None,
    model: str | Path | Sequence[str | Path] | None = None,
    labels: str | Sequence[str] | None = None,
    aggregate: str = "mean",
) -> Result:
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
    Result
        ``genre``, ``confidence``, ``probabilities``, ``windows`` (the timeline) and
        ``tags``; ``to_dict()`` gives the JSON of ``genrelab classify --json``.

    Raises
    ------
    GenrelabError
        Audio that cannot be decoded, is too short or silent; an unknown label or option.

    Examples
    --------
    >>> import genrelab
    >>> y = genrelab.synth.song(4.0, style="classical", seed=0)
    >>> result = genrelab.classify(y, sr=22050, labels=["classical", "rock"])
    >>> sorted(result.probabilities)
    ['classical', 'rock']
    >>> [round(w.end, 1) for w in result.windows]
    [4.0]
    """
    return load_model(model, labels).classify(audio, sr, aggregate)


def tags(
    audio: str | Path | np.ndarray,
    sr: int | None = None,
    k: int = 5,
    model: str = "MSD_musicnn",
    segment_s: float | None = None,
) -> TagReport:
    """Descriptive musicnn tags (genre, mood, instrument, era) of a file or a mono signal.

    Parameters
    ----------
    audio : str, Path or numpy.ndarray
        A path, or a mono float signal (then give ``sr``); at least one 3 s patch long.
    sr : int, optional
        The signal's sample rate; required for an array.
    k : int
        How many tags, best first.
    model : str
        ``MSD_musicnn`` (Last.fm tags) or ``MTT_musicnn`` (MagnaTagATune tags).
    segment_s : float, optional
        Also tag segments of about this many seconds (a timeline in ``.segments``).

    Returns
    -------
    TagReport
        ``tags`` as ``[(tag, score), ...]`` for the whole track, and ``segments``.

    Examples
    --------
    >>> import genrelab
    >>> report = genrelab.tags(genrelab.synth.song(6.0, style="rock", seed=2), sr=22050, k=3)
    >>> len(report.tags)
    3
    """
    from genrelab.errors import AudioError
    from genrelab.pretrained.tagging import tag_file, tag_signal

    if isinstance(audio, str | Path):
        return tag_file(audio, k, model, segment_s)
    if sr is None:
        raise AudioError("give sr, the sample rate of the signal")
    return tag_signal(np.asarray(audio, dtype=np.float32), sr, k, model, segment_s)
