"""The one model bundle format: a folder with ``card.json`` and the model's ``model/`` files.

Everything that loads a model (CLI, API, web page, batch jobs) goes through :func:`load_bundle`,
so a bundle trained by any model family is usable everywhere. Bundles are written to a
temporary sibling folder and renamed into place, so an interrupted save never leaves a
half-written bundle behind.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from genrelab import __version__
from genrelab.atomic import atomic_dir
from genrelab.errors import ModelError
from genrelab.models.base import GenreModel, model_class

FORMAT_VERSION = 1
CARD = "card.json"
MODEL_DIR = "model"
DEFAULT_BUNDLE = "default"


@dataclass
class ModelCard:
    """What a user (and the loader) must know about a trained model."""

    model: str
    params: dict[str, Any]
    labels: list[str]
    sample_rate: int
    #: How model inputs are made from a window of audio, e.g. ``{"kind": "features", "feature_set": "gtzan57"}``.
    frontend: dict[str, Any]
    #: Window length, hop and the shortest audio accepted, in seconds.
    windowing: dict[str, float] = field(
        default_factory=lambda: {"window_s": 30.0, "hop_s": 30.0, "min_s": 3.0}
    )
    #: Training data: source, number of tracks/windows, class counts.
    training: dict[str, Any] = field(default_factory=dict)
    #: One entry per validation: ``{"protocol": ..., "metrics": {...}, ...}``.
    validation: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    genrelab_version: str = __version__
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        missing = {"model", "params", "labels", "sample_rate", "frontend"} - data.keys()
        if missing:
            raise ModelError(f"model card lacks {', '.join(sorted(missing))}")
        if data.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ModelError(
                f"bundle format {data['format_version']} is newer than this genrelab understands "
                f"({FORMAT_VERSION}); upgrade genrelab"
            )
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Bundle:
    card: ModelCard
    model: GenreModel

    @property
    def labels(self) -> list[str]:
        return list(self.card.labels)

    def save(self, path: str | Path) -> Path:
        """Write atomically: a temporary folder beside ``path`` is renamed into place."""
        with atomic_dir(path) as tmp:
            (tmp / MODEL_DIR).mkdir()
            self.model.save(tmp / MODEL_DIR)
            (tmp / CARD).write_text(
                json.dumps(asdict(self.card), indent=2, default=_jsonable) + "\n"
            )
        return Path(path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_card(path: str | Path) -> ModelCard:
    path = Path(path)
    card_file = path / CARD
    if not card_file.is_file():
        raise ModelError(f"{path} is not a model bundle (no {CARD})")
    try:
        return ModelCard.from_dict(json.loads(card_file.read_text()))
    except json.JSONDecodeError as err:
        raise ModelError(f"{card_file} is not valid JSON: {err}") from err


def load_bundle(path: str | Path | None = None) -> Bundle:
    """Load a bundle folder; ``None`` or ``"default"`` is the model embedded in the package."""
    if path is None or str(path) == DEFAULT_BUNDLE:
        return load_bundle(default_bundle_path())
    path = Path(path)
    if not path.exists():
        raise ModelError(f"no model bundle at {path}")
    card = read_card(path)
    model = model_class(card.model).load(path / MODEL_DIR, card.params)
    if list(map(str, model.classes_)) != list(card.labels):
        raise ModelError(f"{path}: the model's classes do not match the card's labels")
    return Bundle(card, model)


def default_bundle_path() -> Path:
    return Path(str(resources.files("genrelab") / "resources" / "default_model"))
