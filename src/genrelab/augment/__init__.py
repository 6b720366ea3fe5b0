"""On-the-fly data augmentation, chosen by name on the command line.

A spec is ``NAME[:KEY=VALUE...]`` with ranges written ``LOW..HIGH``, e.g.
``noise:p=0.5:snr_db=10..30:colour=pink`` or ``pitch_shift:semitones=-1..1``; several specs
(repeated, or joined with commas) are applied in order. Audio augmentations (see
:data:`WAVE_NAMES`) transform each training window before the front end; batch augmentations
(``specaugment``, ``mixup``) transform the standardised model inputs inside the training step.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from genrelab.augment.waveform import WAVE_AUGMENTATIONS, WaveChain
from genrelab.errors import GenrelabError

WAVE_NAMES = tuple(WAVE_AUGMENTATIONS)
#: Batch augmentations live in a torch module, imported only when one is asked for.
BATCH_NAMES = ("specaugment", "mixup")


@dataclass
class Augmentation:
    """The parsed specs: an audio chain and a batch chain (either may be empty)."""

    specs: list[str] = field(default_factory=list)
    wave: WaveChain | None = None
    batch: Any = None

    @property
    def context(self) -> float:
        return self.wave.context if self.wave is not None else 1.0


def _convert(name: str, key: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, tuple):
            low, sep, high = raw.partition("..")
            return (float(low), float(high if sep else low))
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, int | float):
            return type(default)(raw)
    except ValueError as err:
        raise GenrelabError(f"augmentation {name}: bad value {raw!r} for {key}") from err
    return raw


def build_one(spec: str) -> Any:
    """One augmentation object from ``NAME[:KEY=VALUE...]``."""
    name, *pairs = spec.strip().split(":")
    if name in WAVE_AUGMENTATIONS:
        cls: Any = WAVE_AUGMENTATIONS[name]
    elif name in BATCH_NAMES:
        cls = importlib.import_module("genrelab.augment.batch").BATCH_AUGMENTATIONS[name]
    else:
        known = ", ".join((*WAVE_NAMES, *BATCH_NAMES))
        raise GenrelabError(f"unknown augmentation {name!r}; choose from {known}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    kwargs = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or key not in defaults:
            raise GenrelabError(
                f"augmentation {name}: bad setting {pair!r}; use KEY=VALUE with KEY one of "
                f"{', '.join(defaults)}"
            )
        kwargs[key] = _convert(name, key, raw, defaults[key])
    return cls(**kwargs)


def parse_augmentations(specs: Sequence[str] | None) -> Augmentation:
    """Build the audio and batch chains from specs (each may hold several, comma-separated)."""
    texts = [part for spec in specs or [] for part in spec.split(",") if part.strip()]
    steps = [build_one(text) for text in texts]
    wave = [s for s in steps if type(s) in WAVE_AUGMENTATIONS.values()]
    batch = [s for s in steps if type(s) not in WAVE_AUGMENTATIONS.values()]
    chain = None
    if batch:
        chain = importlib.import_module("genrelab.augment.batch").BatchChain(batch)
    return Augmentation(texts, WaveChain(wave) if wave else None, chain)


__all__ = ["BATCH_NAMES", "WAVE_NAMES", "Augmentation", "build_one", "parse_augmentations"]
