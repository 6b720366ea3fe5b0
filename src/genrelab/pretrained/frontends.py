"""Front-end kinds ``musicnn`` and ``hf``: pretrained backbones as the input stage of a bundle.

``{"kind": "musicnn", "model": "MSD_musicnn", "layer": "max_pool", "pool": "mean", "tags": true}``
gives pooled musicnn embeddings (onnxruntime only). ``{"kind": "hf", "backbone": ...}`` gives
pooled Hugging Face hidden states (``output="embedding"``), or the padded raw waveform that a
fine-tuned backbone model reads (``output="waveform"``, which needs neither torch nor
transformers). :mod:`genrelab.features.frontends` imports this module only when a card names
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


class PaddedWaveform:
    """Windows as one ``(n, samples)`` float32 batch, zero-padded to the window length.

    Longer windows are an error, not a silent crop: the card's windowing cuts long audio.
    """

    def __init__(self, samples: int) -> None:
        self.samples = samples

    def __call__(self, windows: Sequence[np.ndarray], sr: int) -> np.ndarray:
        out = np.zeros((len(windows), self.samples), dtype=np.float32)
        for row, w in zip(out, windows, strict=True):
            if len(w) > self.samples:
                raise AudioError(
                    f"window of {len(w)} samples is longer than the model's {self.samples}"
                )
            row[: len(w)] = w
        return out


@register_frontend("hf")
def hf_frontend(
    backbone: str,
    output: str = "embedding",
    window_samples: int | None = None,
    **options: Any,
) -> Frontend:
    """``output="embedding"``: :class:`~genrelab.pretrained.hf.HFEmbedder` with ``options``;
    ``"waveform"``: raw windows padded to ``window_samples`` for models that run the backbone.
    """
    if output == "waveform":
        if not window_samples or options.keys() - {"sample_rate"}:
            raise ModelError(
                "an 'hf' waveform front end takes window_samples (and sample_rate) only"
            )
        return PaddedWaveform(int(window_samples))
    if output != "embedding":
        raise ModelError(f"unknown hf output {output!r}; choose one of {', '.join(HF_OUTPUTS)}")
    from genrelab.pretrained.hf import HFEmbedder

    return HFEmbedder(backbone, **options)
