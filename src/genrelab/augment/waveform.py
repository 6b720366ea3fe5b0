"""Audio-domain augmentations: each draws its parameters from ranges with the caller's generator.

Pitch, tempo, echo and reverb run through Spotify's ``pedalboard`` (Rubber Band, JUCE);
filters are Butterworth sections from scipy; noise and gain are plain arithmetic. Ranges are
``(low, high)`` pairs, sampled uniformly, or log-uniformly for frequencies. Every augmentation
fires with probability ``p``, so a chain of them gives a different mix for every window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import signal

Range = tuple[float, float]

NOISE_COLOURS = {"white": 0.0, "pink": 0.5, "brown": 1.0}


def uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def log_uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


@dataclass
class WaveAugmentation:
    """Base: applies :meth:`apply` with probability ``p``."""

    p: float = 1.0
    #: How much longer than a window the input must be for the output to fill one.
    context: ClassVar[float] = 1.0

    def __call__(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return y
        return np.asarray(self.apply(np.asarray(y, dtype=np.float32), sr, rng), dtype=np.float32)

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with a ``1/f^k`` power spectrum (white k=0, pink 1, brown 2)."""
    white = rng.standard_normal(n)
    power = NOISE_COLOURS[colour]
    if not power:
        return white
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    return np.fft.irfft(np.fft.rfft(white) / freqs**power, n)


@dataclass
class Noise(WaveAugmentation):
    """Additive noise at a signal-to-noise ratio drawn from ``snr_db`` (silence is left alone)."""

    snr_db: Range = (10.0, 30.0)
    colour: str = "white"

    def apply(self, y, sr, rng):
        signal_power = float(np.mean(np.square(y, dtype=np.float64)))
        if signal_power == 0.0:
            return y
        colour = rng.choice(list(NOISE_COLOURS)) if self.colour == "any" else self.colour
        noise = coloured_noise(y.size, colour, rng)
        target = signal_power / 10 ** (uniform(rng, self.snr_db) / 10)
        return y + noise * np.sqrt(target / np.mean(noise**2))


@dataclass
class Gain(WaveAugmentation):
    db: Range = (-6.0, 6.0)

    def apply(self, y, sr, rng):
        return y * 10 ** (uniform(rng, self.db) / 20)


@dataclass
class PitchShift(WaveAugmentation):
    """Transpose by a number of semitones, keeping the length.

    Uses pedalboard's offline Rubber Band stretcher: its real-time ``PitchShift`` plugin misses
    the requested interval by up to a quarter of a semitone on a pure tone.
    """

    semitones: Range = (-2.0, 2.0)

    def apply(self, y, sr, rng):
        from pedalboard import time_stretch

        shifted = time_stretch(y, sr, pitch_shift_in_semitones=uniform(rng, self.semitones))[0]
        return shifted[: y.size]


@dataclass
class Tempo(WaveAugmentation):
    """Change speed by ``rate`` without changing pitch; the output lasts ``len(y) / rate``."""

    rate: Range = (0.85, 1.2)

    def __post_init__(self) -> None:
        self.context = max(1.0, self.rate[1])

    def apply(self, y, sr, rng):
        from pedalboard import time_stretch

        return time_stretch(y, sr, stretch_factor=uniform(rng, self.rate))[0]


@dataclass
class _Filter(WaveAugmentation):
    order: int = 4
    kind: ClassVar[str]

    def band(self, sr: int, rng: np.random.Generator) -> float | tuple[float, float]:
        raise NotImplementedError

    def apply(self, y, sr, rng):
        sos = signal.butter(self.order, self.band(sr, rng), self.kind, fs=sr, output="sos")
        return signal.sosfilt(sos, y)


def _below_nyquist(freq: float, sr: int) -> float:
    return min(freq, 0.45 * sr)


@dataclass
class LowPass(_Filter):
    cutoff_hz: Range = (1000.0, 6000.0)
    kind: ClassVar[str] = "lowpass"

    def band(self, sr, rng):
        return _below_nyquist(log_uniform(rng, self.cutoff_hz), sr)


@dataclass
class HighPass(_Filter):
    cutoff_hz: Range = (100.0, 1000.0)
    kind: ClassVar[str] = "highpass"

    def band(self, sr, rng):
        return _below_nyquist(log_uniform(rng, self.cutoff_hz), sr)


@dataclass
class BandPass(_Filter):
    """Keep ``octaves`` around a centre frequency."""

    center_hz: Range = (300.0, 3000.0)
    octaves: Range = (1.0, 3.0)
    kind: ClassVar[str] = "bandpass"

    def band(self, sr, rng):
        center, half = log_uniform(rng, self.center_hz), 2 ** (uniform(rng, self.octaves) / 2)
        high = _below_nyquist(center * half, sr)
        return min(center / half, 0.9 * high), high


@dataclass
class BandStop(BandPass):
    """Remove ``octaves`` around a centre frequency (a notch when narrow)."""

    octaves: Range = (0.3, 1.0)
    kind: ClassVar[str] = "bandstop"


@dataclass
class Echo(WaveAugmentation):
    delay_s: Range = (0.08, 0.4)
    feedback: Range = (0.1, 0.5)
    mix: Range = (0.2, 0.5)

    def apply(self, y, sr, rng):
        from pedalboard import Delay

        delay = Delay(
            delay_seconds=uniform(rng, self.delay_s),
            feedback=uniform(rng, self.feedback),
            mix=uniform(rng, self.mix),
        )
        return delay(y, sr)


@dataclass
class Reverb(WaveAugmentation):
    room_size: Range = (0.2, 0.9)
    wet: Range = (0.1, 0.4)

    def apply(self, y, sr, rng):
        from pedalboard import Reverb as Room

        wet = uniform(rng, self.wet)
        return Room(room_size=uniform(rng, self.room_size), wet_level=wet, dry_level=1 - wet)(y, sr)


WAVE_AUGMENTATIONS: dict[str, type[WaveAugmentation]] = {
    "noise": Noise,
    "gain": Gain,
    "pitch_shift": PitchShift,
    "tempo": Tempo,
    "lowpass": LowPass,
    "highpass": HighPass,
    "bandpass": BandPass,
    "bandstop": BandStop,
    "echo": Echo,
    "reverb": Reverb,
}


@dataclass
class RandomBundle(WaveAugmentation):
    """A random chain: ``count`` distinct augmentations, in random order, default ranges each."""

    count: Range = (1.0, 3.0)

    def apply(self, y, sr, rng):
        names = [n for n in WAVE_AUGMENTATIONS if n != "tempo"]  # keep the window's length
        k = int(rng.integers(int(self.count[0]), int(self.count[1]) + 1))
        for name in rng.permutation(names)[:k]:
            y = WAVE_AUGMENTATIONS[str(name)]()(y, sr, rng)
        return y


WAVE_AUGMENTATIONS["bundle"] = RandomBundle


class WaveChain:
    """Augmentations applied in order; ``context`` is the longest any of them needs."""

    def __init__(self, steps: list[WaveAugmentation]):
        self.steps = steps
        self.context = max((s.context for s in steps), default=1.0)

    def __call__(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        for step in self.steps:
            y = step(y, sr, rng)
        return y
