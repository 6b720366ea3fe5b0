"""Exploratory figures of audio before any model: what the genre studies open with.

Per file: the waveform, mel spectrogram, chromagram, spectral roll-off and zero-crossing rate
of (at most) its middle ``seconds``. Per folder: a gallery of mel spectrograms per genre and
the distributions of a few handcrafted features by genre (from the gtzan57 set, the features
the default model reads). Everything is PNG, tied together by an ``index.html``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrelab.evaluation.plots import _figure, save_figure

SR = 22050
HOP = 512
#: gtzan57 features shown by genre: loudness, brightness, noisiness, harmony, rhythm, timbre.
DISTRIBUTIONS = (
    "rms_mean",
    "spectral_centroid_mean",
    "spectral_bandwidth_mean",
    "rolloff_mean",
    "zero_crossing_rate_mean",
    "chroma_stft_mean",
    "tempo",
    "mfcc1_mean",
    "mfcc2_mean",
)


@dataclass(frozen=True)
class Track:
    path: Path
    label: str


def _slug(index: int, path: Path) -> str:
    return f"{index:03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', path.stem)[:60]}"


def _excerpt(path: Path, seconds: float) -> np.ndarray:
    from genrelab.audio import load, middle_window

    y, _ = load(path, sr=SR)
    return middle_window(y.size, SR, seconds).take(y)


def file_figure(y: np.ndarray, title: str, path: Path) -> Path:
    """Waveform, mel spectrogram, chroma, spectral roll-off and ZCR over one time axis."""
    import librosa
    import librosa.display

    plt = _figure()
    fig, axes = plt.subplots(5, 1, figsize=(10, 11), sharex=True, layout="constrained")
    librosa.display.waveshow(y, sr=SR, ax=axes[0], color="#4c72b0")
    axes[0].set_title("waveform")
    mel = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=SR, hop_length=HOP, n_mels=128), ref=np.max
    )
    librosa.display.specshow(
        mel, sr=SR, hop_length=HOP, x_axis="time", y_axis="mel", ax=axes[1], cmap="magma"
    )
    axes[1].set_title("mel spectrogram (0 to -80 dB below the loudest bin)")
    chroma = librosa.feature.chroma_stft(y=y, sr=SR, hop_length=HOP)
    librosa.display.specshow(
        chroma, sr=SR, hop_length=HOP, x_axis="time", y_axis="chroma", ax=axes[2], cmap="Blues"
    )
    axes[2].set_title("chromagram (energy per pitch class, 1 = the frame's strongest)")
    frames = librosa.times_like(chroma, sr=SR, hop_length=HOP)
    rolloff = librosa.feature.spectral_rolloff(y=y, sr=SR, hop_length=HOP)[0]
    axes[3].plot(frames[: rolloff.size], rolloff, color="#dd8452")
    axes[3].set_ylabel("Hz")
    axes[3].set_title("spectral roll-off (85 % of the energy below)")
    zcr = librosa.feature.zero_crossing_rate(y, hop_length=HOP)[0]
    axes[4].plot(frames[: zcr.size], zcr, color="#55a868")
    axes[4].set_title("zero-crossing rate")
    axes[4].set_xlabel("time (s)")
    for ax in axes:
        ax.label_outer()
    fig.suptitle(title)
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def genre_gallery(excerpts: dict[str, list[tuple[str, np.ndarray]]], path: Path) -> Path:
    """One row of mel spectrograms per genre (the first few files of each)."""
    import librosa

    plt = _figure()
    genres = sorted(excerpts)
    cols = max(len(v) for v in excerpts.values())
    fig, axes = plt.subplots(
        len(genres), cols, figsize=(2.6 * cols, 2.0 * len(genres)), squeeze=False
    )
    for row, genre in zip(axes, genres, strict=True):
        for ax in row:
            ax.axis("off")
        for ax, (name, y) in zip(row, excerpts[genre], strict=False):
            mel = librosa.power_to_db(
                librosa.feature.melspectrogram(y=y, sr=SR, hop_length=HOP, n_mels=96), ref=np.max
            )
            ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0)
            ax.set_title(name, fontsize=7)
        row[0].text(-0.08, 0.5, genre, transform=row[0].transAxes, ha="right", va="center")
    fig.suptitle("mel spectrograms by genre")
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def feature_distributions(labels: Sequence[str], features: np.ndarray, path: Path) -> Path:
    """Box plots by genre of the :data:`DISTRIBUTIONS` columns of gtzan57 ``features``."""
    from genrelab.features.columns import GTZAN_FEATURE_NAMES

    plt = _figure()
    labels = np.asarray(labels)
    genres = sorted(set(labels))
    cols = 3
    rows = -(-len(DISTRIBUTIONS) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(4.2 * cols, (0.3 * len(genres) + 1.6) * rows),
        layout="constrained",
        squeeze=False,
    )
    for ax, name in zip(axes.flat, DISTRIBUTIONS, strict=False):
        column = features[:, GTZAN_FEATURE_NAMES.index(name)]
        ax.boxplot([column[labels == g] for g in genres], orientation="horizontal")
        ax.set_yticks(range(1, len(genres) + 1), genres, fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    for ax in axes.flat[len(DISTRIBUTIONS) :]:
        ax.axis("off")
    fig.suptitle("feature distributions by genre (gtzan57)")
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def _index(
    out: Path, title: str, folder_figures: list[Path], files: list[tuple[Track, Path]]
) -> Path:
    from genrelab.atomic import write_text

    def img(path: Path, alt: str) -> str:
        ref = html.escape(path.relative_to(out).as_posix(), quote=True)
        return f'<a href="{ref}"><img src="{ref}" alt="{html.escape(alt, quote=True)}"></a>'

    parts = [
        f"<h2>{html.escape(p.stem.replace('-', ' '))}</h2>{img(p, p.stem)}" for p in folder_figures
    ]
    for track, figure in files:
        caption = html.escape(track.path.name + (f" ({track.label})" if track.label else ""))
        parts.append(
            f"<figure>{img(figure, track.path.name)}<figcaption>{caption}</figcaption></figure>"
        )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1100px}img{max-width:100%}"
        "figure{display:inline-block;width:32%;margin:0 1% 1em 0;vertical-align:top}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1>" + "".join(parts) + "</body></html>\n"
    )
    return write_text(out / "index.html", page)


def explore(
    tracks: Sequence[Track],
    out: Path,
    *,
    title: str,
    seconds: float = 30.0,
    per_genre: int = 4,
    on_track: Callable[[], None] | None = None,
    on_error: Callable[[Path, str], None] | None = None,
) -> Path:
    """Write the per-file figures, and with several tracks the folder figures; the index.

    A file that cannot be decoded is reported through ``on_error`` and left out.
    """
    from genrelab.errors import AudioError
    from genrelab.features.sets import get_feature_set

    gtzan57 = get_feature_set("gtzan57")
    files: list[tuple[Track, Path]] = []
    gallery: dict[str, list[tuple[str, np.ndarray]]] = {}
    labels, rows = [], []
    for i, track in enumerate(tracks):
        try:
            y = _excerpt(track.path, seconds)
            files.append(
                (
                    track,
                    file_figure(y, track.path.name, out / "files" / f"{_slug(i, track.path)}.png"),
                )
            )
            if len(tracks) > 1:
                label = track.label or "all"
                shelf = gallery.setdefault(label, [])
                if len(shelf) < per_genre:
                    shelf.append((track.path.stem, y))
                labels.append(label)
                rows.append(gtzan57.fn(y, SR))
        except AudioError as err:
            if on_error is not None:
                on_error(track.path, str(err))
        finally:
            if on_track is not None:
                on_track()
    folder_figures = []
    if gallery:
        folder_figures.append(genre_gallery(gallery, out / "genre-gallery.png"))
        folder_figures.append(
            feature_distributions(labels, np.asarray(rows), out / "feature-distributions.png")
        )
    return _index(out, title, folder_figures, files)
