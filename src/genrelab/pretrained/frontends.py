"""Front-end kinds ``musicnn`` and ``hf``: pretrained backbones as the input stage of a bundle.

``{"kind": "musicnn", "model": "MSD_musicnn", "layer": "max_pool", "pool": "mean", "tags": true}``
gives pooled musicnn embeddings (onnxruntime only). ``{"kind": "hf", "backbone": ...}`` gives
pooled Hugging Face hidden states (``output="embedding"``), or the resampled, padded raw
windows that a fine-tuned backbone model reads (``output="waveform"``, which needs neither torch
nor transformers). :mod:`genrelab.features.frontends` imports this module only when a card names
one of these kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from genrelab.errors import AudioError, ModelError
from genrelab.features.frontends import Frontend, register_frontend
from genrelab.pretrained.embeddings import MusicnnEmbedder

HF_OUTPUTS = ("embedding", "waveform")


@register_frontend("musicnn")
def musicnn_frontend(**params: Any) -> Frontend:
    """Keyword arguments of :class:`~genrelab.pretrained.embeddings.MusicnnEmbedder`."""
    return MusicnnEmbedder(**params)


class BackboneWaveform:
    """Windows resampled to the backbone's rate, as one zero-padded ``(n, samples)`` batch.

    ``samples`` is the backbone's input length. A window longer than that (beyond resampling's
    rounding) is an error, not a silent crop: the card's windowing cuts long audio.
    """

    def __init__(self, sample_rate: int, samples: int) -> None:
        self.sample_rate, self.samples = sample_rate, samples

    def __call__(self, windows: Sequence[np.ndarray], sr: int) -> np.ndarray:
        out = np.zeros((len(windows), self.samples), dtype=np.float32)
        for row, w in zip(out, windows, strict=True):
            w = np.asarray(w, dtype=np.float32)
            if sr != self.sample_rate:
                import soxr

                w = soxr.resample(w, sr, self.sample_rate, quality="HQ")
            if len(w) > self.samples + self.sample_rate // 100:
                raise AudioError(
                    f"a window of {len(w) / self.sample_rate:.2f} s is longer than the "
                    f"model's {self.samples / self.sample_rate:.2f} s input"
                )
            row[: min(len(w), self.samples)] = w[: self.samples]
        return out


@register_frontend("hf")
def hf_frontend(
    backbone: str,
    output: str = "embedding",
    sample_rate: int | None = None,
    duration: float | None = None,
    **options: Any,
) -> Frontend:
    """``output="embedding"``: :class:`~genrelab.pretrained.hf.HFEmbedder` with ``options``;
    ``"waveform"``: windows at the backbone's ``sample_rate``, padded to ``duration`` seconds,
    for models that run the backbone themselves (needs neither torch nor transformers).
    """
    if output == "waveform":
        if not (sample_rate and duration) or options:
            raise ModelError("an 'hf' waveform front end takes sample_rate and duration only")
        return BackboneWaveform(int(sample_rate), round(duration * sample_rate))
    if output != "embedding":
        raise ModelError(f"unknown hf output {output!r}; choose one of {', '.join(HF_OUTPUTS)}")
    if sample_rate is not None or duration is not None:
        raise ModelError("an 'hf' embedding front end takes its rate and length from the backbone")
    from genrelab.pretrained.hf import HFEmbedder

    return HFEmbedder(backbone, **options)
