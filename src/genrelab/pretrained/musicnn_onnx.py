"""musicnn taggers and embedders (Pons & Serra 2019) that need only NumPy, soxr and onnxruntime.

The pre-trained ``MSD_musicnn`` (Million Song Dataset, 50 Last.fm tags) and ``MTT_musicnn``
(MagnaTagATune, 50 tags) were converted from the ISC-licensed ``musicnn`` 0.1.0 package by
``tools/convert_musicnn.py`` and checked against the original TensorFlow implementation by
``tests/test_musicnn.py``. This module holds the front end shared by both backends, so the ONNX
runtime never imports torch; ``backend="torch"`` loads :mod:`genrelab.pretrained.musicnn`.
Model names, outputs and tags are in :mod:`genrelab.pretrained.musicnn_meta`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genrelab.errors import AudioError, ModelError
from genrelab.features import dsp
from genrelab.pretrained.musicnn_meta import (
    EMBEDDINGS,
    N_MELS,
    OUTPUTS,
    check_model,
    resource_dir,
    tag_names,
)

BACKENDS = ("onnx", "torch")

SR = 16000
N_FFT = 512
HOP = 256


def _time_to_frames(seconds: float) -> int:
    """``librosa.time_to_frames(seconds, sr=SR, n_fft=N_FFT, hop_length=HOP)``."""
    return (int(seconds * SR) - N_FFT // 2) // HOP


#: 3 s patches, as the original computes it: time_to_frames(3, ...) + 1.
PATCH_FRAMES = _time_to_frames(3) + 1
#: Shortest input (in samples at 16 kHz) that yields one patch with librosa's centred frames.
MIN_SAMPLES = (PATCH_FRAMES - 1) * HOP
#: Patches per forward pass. One at a time is as fast as 16 on CPU and keeps the peak RSS
#: of a classify process ~450 MB lower (onnxruntime's arena keeps the largest batch's memory).
BATCH = 1

Runner = Callable[[np.ndarray], dict[str, np.ndarray]]


def log_mel(y: np.ndarray, sr: int) -> np.ndarray:
    """``(frames, 96)`` log-compressed mel power, as the original ``musicnn.extractor``.

    Resampling is librosa's default soxr HQ, so ``(y, sr)`` from a file gives what the
    original's ``librosa.load(path, sr=16000)`` does. The mel power is rounded to float16 like
    the original, but the log is taken in float32: in float16 ``10000 * x`` overflows. Frames
    are centred with librosa's zero padding (its default since 0.10), as in the reference run.
    """
    y = _to_model_rate(y, sr)
    power = np.abs(dsp.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = dsp.melspectrogram(power, SR, N_FFT, n_mels=N_MELS)
    return np.log10(10000 * mel.T.astype(np.float16).astype(np.float32) + 1)


def patches(y: np.ndarray, sr: int, patch_hop: float | None = None) -> np.ndarray:
    """``(n_patches, 187, 96)`` float32 model inputs: 3 s patches every ``patch_hop`` seconds.

    ``patch_hop=None`` gives back-to-back patches (the original's ``input_overlap=False``);
    seconds convert to frames as the original's ``input_overlap`` does. A trailing part
    shorter than a patch is dropped, as in the original.
    """
    y = _to_model_rate(y, sr)
    if len(y) < MIN_SAMPLES:
        raise AudioError(
            f"audio is {len(y) / SR:.3f} s long; musicnn needs at least {MIN_SAMPLES / SR:.3f} s "
            f"({MIN_SAMPLES} samples at 16 kHz: one 3 s patch)"
        )
    mel = log_mel(y, SR)
    windows = np.lib.stride_tricks.sliding_window_view(mel, PATCH_FRAMES, axis=0)
    return np.ascontiguousarray(windows[:: _hop_frames(patch_hop)].transpose(0, 2, 1))


def _hop_frames(patch_hop: float | None) -> int:
    if patch_hop is None:
        return PATCH_FRAMES
    frames = _time_to_frames(patch_hop)
    if frames < 1:
        raise ModelError(f"patch_hop must be at least {(HOP + N_FFT // 2) / SR} s, got {patch_hop}")
    return frames


def _to_model_rate(y: np.ndarray, sr: int) -> np.ndarray:
    """Checked float32 mono at 16 kHz (float32 first, as ``librosa.load`` resamples it)."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise AudioError(f"expected mono audio of shape (n,), got shape {y.shape}")
    if not isinstance(sr, int | np.integer) or sr <= 0:
        raise AudioError(f"sample rate must be a positive integer, got {sr!r}")
    if not np.isfinite(y).all():
        raise AudioError("audio contains NaN or infinite samples")
    if sr == SR:
        return y
    return dsp.resample(y, int(sr), SR)


class OnnxMusicnn:
    """One converted model in an onnxruntime session: patches in, :data:`OUTPUTS` out."""

    def __init__(self, model: str = "MSD_musicnn") -> None:
        check_model(model)
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ModelError("musicnn needs onnxruntime: pip install onnxruntime") from err
        path = resource_dir() / f"{model}.onnx"
        options = ort.SessionOptions()
        # Idle intra-op threads would spin, taking the cores that the windows' feature
        # threads run on (genrelab.parallel) while the network waits between layers.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(OUTPUTS, self.session.run(list(OUTPUTS), {"log_mel": x}), strict=True))


def _runner(model: str, backend: str) -> Runner:
    if backend == "onnx":
        return OnnxMusicnn(model).predict
    if backend == "torch":
        try:
            from genrelab.pretrained.musicnn import load_musicnn
        except ImportError as err:
            raise ModelError(
                "backend='torch' needs PyTorch: pip install 'genrelab[torch]'"
            ) from err
        return load_musicnn(model).predict
    raise ModelError(f"unknown musicnn backend {backend!r}; choose one of {', '.join(BACKENDS)}")


class MusicnnTagger:
    """Tag probabilities and embeddings of every 3 s patch of a signal.

    ``backend="onnx"`` needs only onnxruntime; ``"torch"`` runs the PyTorch port (same numbers
    within 1e-5). ``patch_hop`` is the hop between patches in seconds (``None``: no overlap).
    """

    def __init__(
        self, model: str = "MSD_musicnn", backend: str = "onnx", patch_hop: float | None = None
    ) -> None:
        check_model(model)
        _hop_frames(patch_hop)
        self.model = model
        self.backend = backend
        self.patch_hop = patch_hop
        self._predict = _runner(model, backend)

    @property
    def tag_names(self) -> list[str]:
        return list(tag_names(self.model))

    def outputs(self, y: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        """Every entry of :data:`OUTPUTS`, one row per patch."""
        return self.predict(patches(y, sr, self.patch_hop))

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """:data:`OUTPUTS` for ready-made :func:`patches` (e.g. shared by both models)."""
        runs = [self._predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)]
        return {k: np.concatenate([r[k] for r in runs]) for k in OUTPUTS}

    def tags(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, list[str]]:
        """``(taggram, tag_names)``: taggram is ``(n_patches, 50)`` sigmoid probabilities."""
        return self.outputs(y, sr)["taggram"], self.tag_names

    def embed(self, y: np.ndarray, sr: int, layer: str = "max_pool") -> np.ndarray:
        """``(n_patches, d)`` embeddings: ``max_pool``/``mean_pool`` (753) or ``penultimate`` (200).

        Names as in the original's ``extractor`` features; the penultimate layer is the
        batch-normalised output of the 200-unit dense layer.
        """
        if layer not in EMBEDDINGS:
            raise ModelError(
                f"unknown musicnn layer {layer!r}; choose one of {', '.join(EMBEDDINGS)}"
            )
        return self.outputs(y, sr)[layer]

    def top_tags(self, y: np.ndarray, sr: int, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` tags with the highest probability averaged over patches, best first."""
        mean = self.tags(y, sr)[0].mean(axis=0)
        best = np.argsort(-mean, kind="stable")[:k]
        return [(self.tag_names[i], float(mean[i])) for i in best]
