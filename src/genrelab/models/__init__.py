"""Genre models: the estimator contract, the registry by name and the bundle format."""

from genrelab.models import classical as _classical  # noqa: F401  (registers the feature models)
from genrelab.models import ensemble as _ensemble  # noqa: F401
from genrelab.models.base import (
    GenreModel,
    available_models,
    create_model,
    model_class,
    register_lazy,
    register_model,
)
from genrelab.models.bundle import Bundle, ModelCard, default_bundle_path, load_bundle, read_card

__all__ = [
    "Bundle",
    "GenreModel",
    "ModelCard",
    "available_models",
    "create_model",
    "default_bundle_path",
    "load_bundle",
    "model_class",
    "read_card",
    "register_lazy",
    "register_model",
]
