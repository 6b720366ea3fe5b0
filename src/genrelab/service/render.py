"""The mel spectrogram picture shown under the timeline (a PNG, drawn off-screen).

Matplotlib's object API with the Agg canvas is used instead of pyplot, whose global state is
not safe across the service's worker threads.
"""

from __future__ import annotations

import io
import math

import numpy as np

#: Spectrogram frames drawn at most; longer audio gets a larger hop (it is only a picture).
MAX_FRAMES = 1600
N_FFT = 2048


def mel_png(y: np.ndarray, sr: int, width: int = 960, height: int = 300) -> bytes:
    """A ``width`` x ``height`` PNG of ``y``'s mel spectrogram in dB, with time and Hz axes."""
    import librosa
    import librosa.display
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    hop = 512 * max(1, math.ceil(y.size / 512 / MAX_FRAMES))
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=N_FFT, hop_length=hop, n_mels=128)
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.075, 0.16, 0.91, 0.8))
    librosa.display.specshow(
        db, sr=sr, hop_length=hop, n_fft=N_FFT, x_axis="time", y_axis="mel", ax=ax, cmap="magma"
    )
    ax.set_xlabel("")
    ax.set_ylabel("Hz", color="#64748b", fontsize=9)
    ax.tick_params(colors="#64748b", labelsize=9, length=3)
    for spine in ax.spines.values():
        spine.set_visible(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", transparent=True)
    return buf.getvalue()
