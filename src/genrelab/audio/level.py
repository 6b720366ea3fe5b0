"""Whether a track holds any sound at all: a silent file must not come back as "classical 0.91".

Models are trained on music; on digital silence or a faint noise floor they still output a
confident genre. The one window loop (:class:`genrelab.pipeline.Windowing`) feeds every window
heard to a :class:`LevelMeter` and asks it before answering: a track whose overall RMS level
stays below :data:`SILENCE_DBFS` is refused with "no music detected".
"""

from __future__ import annotations

import numpy as np

from genrelab.errors import AudioError

#: RMS level (dB relative to full scale) below which a whole track counts as silence. Quiet
#: classical passages sit around -40 to -30 dBFS; a 16-bit noise floor near -90 dBFS.
SILENCE_DBFS = -60.0


def rms_dbfs(sum_squares: float, n_samples: int) -> float:
    """RMS level in dBFS of ``n_samples`` whose squares sum to ``sum_squares``."""
    if n_samples <= 0 or sum_squares <= 0:
        return -np.inf
    return float(10 * np.log10(sum_squares / n_samples))


class LevelMeter:
    """Accumulates the energy of a track's windows, then refuses silence."""

    def __init__(self, threshold_dbfs: float = SILENCE_DBFS) -> None:
        self.threshold_dbfs = threshold_dbfs
        self.sum_squares = 0.0
        self.n_samples = 0

    def add(self, samples: np.ndarray) -> None:
        x = np.asarray(samples, dtype=np.float64)
        self.sum_squares += float(np.dot(x.ravel(), x.ravel()))
        self.n_samples += x.size

    @property
    def dbfs(self) -> float:
        return rms_dbfs(self.sum_squares, self.n_samples)

    def check(self, path: str) -> None:
        """Raise :class:`AudioError` when what was added is silence or near-silence."""
        level = self.dbfs
        if level < self.threshold_dbfs:
            shown = "digital silence" if level == -np.inf else f"RMS level {level:.0f} dBFS"
            raise AudioError(
                f"{path or 'audio'}: no music detected ({shown}, below "
                f"{self.threshold_dbfs:.0f} dBFS)"
            )
