"""The one model bundle format: a folder with ``card.json`` and the model's ``model/`` files.

Everything that loads a model (CLI, API, web page, batch jobs) goes through :func:`load_bundle`,
so a bundle trained by any model family is usable everywhere. Bundles are written to a
temporary sibling folder and renamed into place, so an interrupted save never leaves a
half-written bundle behind.

Loading treats a bundle as untrusted data: the card is validated against
``resources/card.schema.json`` (a bad field is one clear error naming it), every file must
lie inside the bundle, and nothing is unpickled or run unless allowed
(:mod:`genrelab.models.trust`).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from genrelab._version import __version__
from genrelab.atomic import atomic_dir
from genrelab.errors import ModelError
from genrelab.models import trust as _trust
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
    def from_dict(cls, data: Any, source: str = CARD) -> ModelCard:
        """A card from parsed JSON, validated first (see :func:`validate_card`)."""
        validate_card(data, source)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def validate_card(data: Any, source: str = CARD) -> None:
    """Raise a one-line ModelError naming the first bad field of a parsed card."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(_card_schema()).iter_errors(data))
    if error is not None:
        field = ".".join(map(str, error.absolute_path))
        if error.validator == "required":
            prefix = f"{field}." if field else ""
            missing = [prefix + k for k in error.validator_value if k not in error.instance]
            raise ModelError(f"{source}: lacks {', '.join(sorted(missing))}")
        if error.validator == "type":
            message = f"must be {_a(error.validator_value)}, not {_json_type(error.instance)}"
        else:
            rest = error.message.removeprefix(repr(error.instance)).strip()
            message = f"is invalid: {_short(error.instance)} {rest}"
        raise ModelError(f"{source}: field {field!r} {message}" if field else f"{source} {message}")
    version = data.get("format_version", FORMAT_VERSION)
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{source}: bundle format {version} is newer than this genrelab understands "
            f"({FORMAT_VERSION}); upgrade genrelab"
        )


def _card_schema() -> dict[str, Any]:
    return json.loads((resources.files("genrelab") / "resources" / "card.schema.json").read_text())


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"
    return f"{names.get(type(value), type(value).__name__)} ({_short(value)})"


def _a(kind: str | list[str]) -> str:
    kinds = [kind] if isinstance(kind, str) else kind
    return " or ".join(f"an {k}" if k[0] in "aeiou" else f"a {k}" for k in kinds)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
        data = json.loads(card_file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ModelError(
            f"{card_file} is not UTF-8 text ({err.reason} at byte {err.start})"
        ) from err
    except json.JSONDecodeError as err:
        raise ModelError(f"{card_file} is not valid JSON: {err}") from err
    return ModelCard.from_dict(data, str(card_file))


def load_bundle(path: str | Path | None = None, *, trust: _trust.Trust | None = None) -> Bundle:
    """Load a bundle folder; ``None`` or ``"default"`` is the model embedded in the package.

    ``trust`` overrides what loading may do (default: the current context's, which the CLI
    sets from ``--trust-bundle``/``--trust-remote-code``; nothing beyond reading data).
    """
    if trust is not None:
        with _trust.trusting(trust):
            return load_bundle(path)
    if path is None or str(path) == DEFAULT_BUNDLE:
        return load_bundle(default_bundle_path())
    path = Path(path)
    if not path.exists():
        raise ModelError(f"no model bundle at {path}")
    card = read_card(path)
    _trust.check_contained(path)
    cls = model_class(card.model)
    params = _trust.remote_code_params(card.params, str(path / CARD))
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as err:
        raise ModelError(
            f"{path / CARD}: field 'params' does not fit model {card.model!r}: {err}"
        ) from err
    try:
        model = cls.load(path / MODEL_DIR, params)
    except (TypeError, KeyError, ValueError) as err:  # nested params or files that do not fit
        raise ModelError(f"{path}: cannot load the model ({type(err).__name__}: {err})") from err
    if list(map(str, model.classes_)) != list(card.labels):
        raise ModelError(f"{path}: the model's classes do not match the card's labels")
    return Bundle(card, model)


def default_bundle_path() -> Path:
    return Path(str(resources.files("genrelab") / "resources" / "default_model"))
