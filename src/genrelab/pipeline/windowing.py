"""How a model hears a track: its windows, the shortest input it takes and the tail rule.

This is the only code that cuts audio into a model's windows, for files (streamed) and
in-memory signals alike, so every surface (Python, CLI, HTTP, batch, Ray, training) hears a
track the same way. The rules, as a card's ``windowing`` states them:

- a track shorter than ``min_s`` seconds is refused with one error wording;
- windows of ``window_s`` start every ``hop_s``; a track shorter than one window is one
  window of all of it (front ends pad or tile what they need);
- the tail rule: an uncovered tail at least :attr:`Windowing.tail_s` (a third of a window)
  long gets one more window, aligned to the track's end; a shorter one is dropped;
- ``middle`` hears only the centred window, ``random:N[:SEED]`` N seeded random ones;
- the windows heard must not be silence (see :mod:`genrelab.audio.level`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrelab.aggregate import parse_aggregate
from genrelab.audio.level import LevelMeter
from genrelab.errors import AudioError

if TYPE_CHECKING:
    from genrelab.audio import AudioInfo, Window

#: What the windows are cut from: a file path, or a mono signal already at the model's rate.
Source = str | Path | np.ndarray


@dataclass(frozen=True)
class Windowing:
    """A model's windowing (plain data, so worker processes and Ray tasks can carry it).

    Examples
    --------
    >>> import numpy as np
    >>> w = Windowing(sr=10, window_s=3.0, hop_s=3.0, min_s=1.0)
    >>> [(s.start, s.end) for s, _ in w.windows(np.ones(70, np.float32))]
    [(0, 30), (30, 60), (40, 70)]
    """

    sr: int
    window_s: float = 30.0
    hop_s: float = 30.0
    min_s: float = 0.0

    @classmethod
    def from_card(cls, sample_rate: int, windowing: dict[str, Any]) -> Windowing:
        window_s = float(windowing.get("window_s", 30.0))
        return cls(
            int(sample_rate),
            window_s,
            float(windowing.get("hop_s", window_s)),
            float(windowing.get("min_s", 0.0)),
        )

    @property
    def tail_s(self) -> float:
        """An uncovered tail at least this long gets one more, end-aligned window."""
        return self.window_s / 3

    @property
    def window_samples(self) -> int:
        return round(self.window_s * self.sr)

    def check_length(self, n_samples: int, name: str = "") -> None:
        """Refuse a track shorter than ``min_s`` (the one wording every surface shows)."""
        seconds = n_samples / self.sr
        if seconds < self.min_s:
            raise AudioError(
                f"{name or 'audio'} is {seconds:.1f} s long; this model needs at least "
                f"{self.min_s:.1f} s"
            )

    def spans(self, n_samples: int, aggregate: str = "mean") -> list[Window]:
        """The windows ``aggregate`` hears in a signal of ``n_samples``.

        Random windows start anywhere (they may overlap), drawn from the seed alone, so the
        same track and spec always give the same windows.
        """
        from genrelab.audio import fixed_windows, middle_window, random_windows

        how = parse_aggregate(aggregate)
        if how.method == "middle":
            return [middle_window(n_samples, self.sr, self.window_s)]
        if how.method == "random":
            return random_windows(n_samples, self.sr, self.window_s, how.count, how.seed)
        return fixed_windows(n_samples, self.sr, self.window_s, self.hop_s, min_last_s=self.tail_s)

    def count(self, n_samples: int | None, aggregate: str = "mean") -> int | None:
        """How many windows :meth:`spans` gives (``None``: the length is not known)."""
        how = parse_aggregate(aggregate)
        if how.method == "middle":
            return 1
        if how.method == "random":
            return how.count
        return None if n_samples is None else len(self.spans(n_samples, aggregate))

    def header(self, source: Source, aggregate: str = "mean") -> AudioInfo | None:
        """What :meth:`windows` and :meth:`count_in` need of a streamed file's header, read
        once (``None`` for a signal and for aggregates that decode the whole file anyway)."""
        from genrelab.audio import info

        streamed = isinstance(source, str | Path) and not parse_aggregate(aggregate).whole_file
        return info(source) if streamed else None

    def count_in(self, source: Source, aggregate: str, meta: AudioInfo | None) -> int | None:
        """How many windows :meth:`windows` will cut from ``source`` (``meta``: its header)."""
        if isinstance(source, np.ndarray):
            return self.count(source.size, aggregate)
        duration = None if meta is None else meta.duration
        return self.count(None if duration is None else round(duration * self.sr), aggregate)

    def windows(
        self,
        source: Source,
        aggregate: str = "mean",
        name: str = "",
        meta: AudioInfo | None = None,
    ) -> Iterator[tuple[Window, np.ndarray]]:
        """``(window, samples)`` of a file (streamed in bounded memory; ``middle`` decodes
        only that window, ``random:N`` the whole file) or of a signal at ``sr``.

        Too short or silent audio raises :class:`AudioError` naming ``name`` (default: the
        path). ``meta``: the file's :meth:`header`, if already read.
        """
        from genrelab.audio import iter_windows, load
        from genrelab.audio.windows import read_middle

        if isinstance(source, str | Path):
            name = name or str(source)
            how = parse_aggregate(aggregate)
            if how.method == "middle":
                cut: Iterator[tuple[Window, np.ndarray]] = iter(
                    [read_middle(source, self.sr, self.window_s)]
                )
            elif how.whole_file:  # random:N: placed by the whole length
                y, _ = load(source, sr=self.sr)
                cut = self._cut(y, aggregate, name)
            else:
                meta = meta or self.header(source, aggregate)
                if meta is not None and meta.duration is not None:
                    self.check_length(round(meta.duration * self.sr), name)
                cut = iter_windows(
                    source, self.sr, self.window_s, self.hop_s, min_last_s=self.tail_s
                )
        else:
            cut = self._cut(np.asarray(source, dtype=np.float32), aggregate, name)
        yield from self._heard(cut, name)

    def _cut(self, y: np.ndarray, aggregate: str, name: str) -> Iterator[tuple[Window, np.ndarray]]:
        self.check_length(y.size, name)
        for window in self.spans(y.size, aggregate):
            yield window, y[window.start : window.end]

    def _heard(
        self, cut: Iterator[tuple[Window, np.ndarray]], name: str
    ) -> Iterator[tuple[Window, np.ndarray]]:
        """Pass windows on, checking the length a cut file really has and the level."""
        meter = LevelMeter()
        any_window = False
        for window, samples in cut:
            # A header's length can be wrong (a cut file): a window shorter than full is the
            # whole signal, so check it, with the name, before a front end refuses it.
            if window.length < self.window_samples:
                self.check_length(window.end, name)
            meter.add(samples)
            any_window = True
            yield window, samples
        if not any_window:
            raise AudioError(f"{name or 'audio'}: no audio could be decoded")
        meter.check(name)
