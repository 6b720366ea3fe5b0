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

# Neural models import torch, so they are registered by name and imported on first use.
register_lazy("mlp", "genrelab.neural.models:MLPModel")
register_lazy("mlp_spec", "genrelab.neural.models:SpectrogramMLPModel")
register_lazy("cnn", "genrelab.neural.models:CNNModel")
register_lazy("resnet_cnn", "genrelab.neural.models:ResNetCNNModel")
register_lazy("crnn", "genrelab.neural.models:CRNNModel")
register_lazy("lstm", "genrelab.neural.models:LSTMModel")
register_lazy("gru", "genrelab.neural.models:GRUModel")
register_lazy("samplecnn", "genrelab.neural.models:SampleCNNModel")
register_lazy("wavenet", "genrelab.neural.models:WaveNetModel")
register_lazy("image_resnet", "genrelab.neural.vision:ImageResNetModel")
register_lazy("image_convnext", "genrelab.neural.vision:ImageConvNextModel")
register_lazy("image_efficientnet", "genrelab.neural.vision:ImageEfficientNetModel")
register_lazy("image_vit", "genrelab.neural.vision:ImageViTModel")

# Pretrained backbones: the column stack needs only NumPy; the Hugging Face models torch.
register_lazy("column_stack", "genrelab.pretrained.stack:ColumnStackModel")
register_lazy("tag_prior", "genrelab.pretrained.stack:TagPriorModel")
register_lazy("exemplar_gate", "genrelab.pretrained.exemplars:ExemplarGateModel")
register_lazy("hf", "genrelab.pretrained.hf:HFAudioModel")
register_lazy("ast_dora", "genrelab.pretrained.hf:ASTDoRAModel")

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

# Ensembles of whole bundles (any front ends), built by `genrelab ensemble`.
register_lazy("bundle_ensemble", "genrelab.experiments.ensemble:BundleEnsembleModel")
