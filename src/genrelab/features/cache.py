"""On-disk cache of per-file feature arrays, keyed by audio content rather than by path.

Keying on a hash of the bytes means moved or renamed datasets still hit, and an edited file
never serves stale features. The key also covers the feature set (name, version, names), every
extraction parameter, and the genrelab/librosa versions, since any of them changes the values.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import librosa
import numpy as np

from genrelab._version import __version__
from genrelab.atomic import atomic_path
from genrelab.errors import AudioError
from genrelab.features.sets import FeatureSet

#: Bump when the cache layout or the meaning of a key changes.
CACHE_FORMAT = "1"
_DEFAULT_VERSION = f"{CACHE_FORMAT}/genrelab-{__version__}/librosa-{librosa.__version__}"


def default_cache_dir() -> Path:
    """``$GENRELAB_CACHE/features``, else ``$XDG_CACHE_HOME/genrelab/features`` or
    ``~/.cache/genrelab/features``."""
    if root := os.environ.get("GENRELAB_CACHE"):
        return Path(root).expanduser() / "features"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "genrelab" / "features"


class FeatureCache:
    """``.npy`` files under ``root/<feature set>/<key[:2]>/<key>.npy``, written atomically."""

    def __init__(
        self, root: str | os.PathLike[str] | None = None, *, version: str = _DEFAULT_VERSION
    ):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.version = version
        self._digests: dict[tuple[str, int, int], str] = {}

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"

    def content_hash(self, path: str | os.PathLike[str]) -> str:
        """SHA-256 of the file's bytes, memoised on (path, size, mtime) so reruns skip rehashing."""
        path = Path(path).resolve()
        try:
            stat = path.stat()
            memo = (str(path), stat.st_size, stat.st_mtime_ns)
            if memo not in self._digests:
                with path.open("rb") as f:
                    self._digests[memo] = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as err:
            raise AudioError(f"cannot read {path}: {err.strerror or err}") from err
        return self._digests[memo]

    def key(self, path: str | os.PathLike[str], feature_set: FeatureSet, **params: object) -> str:
        """Cache key of ``path``'s features; ``params`` must be JSON-serialisable."""
        names = hashlib.sha256("\n".join(feature_set.names).encode()).hexdigest()
        spec = {
            "content": self.content_hash(path),
            "feature_set": [feature_set.name, feature_set.version, names],
            "params": params,
            "version": self.version,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def _file(self, feature_set: FeatureSet, key: str) -> Path:
        return self.root / feature_set.name / key[:2] / f"{key}.npy"

    def load(self, feature_set: FeatureSet, key: str) -> np.ndarray | None:
        """The stored array, or None when absent or unreadable (a torn or foreign file)."""
        try:
            return np.load(self._file(feature_set, key), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None

    def save(self, feature_set: FeatureSet, key: str, values: np.ndarray) -> None:
        """Store ``values`` so that concurrent readers see either nothing or the whole file."""
        with atomic_path(self._file(feature_set, key)) as tmp:
            np.save(tmp, np.asarray(values), allow_pickle=False)

    def clear(self, feature_set: FeatureSet | None = None) -> None:
        """Delete one feature set's entries, or the whole cache."""
        shutil.rmtree(
            self.root / feature_set.name if feature_set else self.root, ignore_errors=True
        )
