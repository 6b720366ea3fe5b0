"""Hugging Face audio backbones (AST, wav2vec2, HuBERT/DistilHuBERT, Whisper's encoder, MERT).

A backbone is named by hub id or local folder and always loaded with ``from_pretrained``, with
its feature extractor, which fixes the sampling rate and the longest input. Two uses:

* :class:`HFEmbedder`: a frozen backbone as a feature extractor (pooled hidden states), for
  ``genrelab embed`` and any feature head.
* :class:`HFAudioModel` (registry name ``hf``; ``ast_dora`` is the AST + DoRA recipe): raw
  windows -> feature extractor -> backbone -> pooled hidden states -> linear or MLP head,
  trained by the shared neural trainer with the backbone frozen, fully fine-tuned, or adapted
  with LoRA/DoRA (peft) on chosen linear layers from block ``k`` up. Its bundle keeps only
  what training changed (head, adapters; everything in ``full`` mode) plus the backbone
  reference, and loading rebuilds the backbone through the same ``from_pretrained`` call.

Audio longer than the backbone's input is cut into windows (the card's ``windowing``) and
the windows' answers are averaged, never truncated. MERT ships its model code with its
weights, so it needs ``trust_remote_code=True`` and a local folder holding that code when
offline; everything else is native to transformers.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from genrelab.errors import ModelError
from genrelab.models import trust
from genrelab.models.base import register_model
from genrelab.neural.base import META, TorchGenreModel
from genrelab.pretrained.pooling import pool

AST_AUDIOSET = "MIT/ast-finetuned-audioset-10-10-0.4593"
MODES = ("frozen", "full", "lora", "dora")
HEADS = ("linear", "mlp")
#: Adapter targets by role inside each transformer block (see :func:`adapter_targets`).
TARGETS = ("ffn_out", "ffn", "attention", "all")
#: Window for backbones whose feature extractor sets no length (wav2vec2, HuBERT, MERT).
DEFAULT_WINDOW_S = 10.0
#: Windows per backbone forward pass when embedding.
EMBED_BATCH = 8

_BLOCK = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


#: Seconds the one reachability check of the hub may take before a hub id is given up.
PROBE_TIMEOUT_S = 5.0


def _from_pretrained(ref: str, trust_remote_code: bool, model: bool) -> Any:
    from transformers import AutoFeatureExtractor, AutoModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    loader = AutoModel if model else AutoFeatureExtractor
    try:
        if _needs_hub(ref):
            try:  # already cached: no network needed
                return loader.from_pretrained(
                    ref, trust_remote_code=trust_remote_code, local_files_only=True
                )
            except (OSError, ValueError):
                _check_hub(ref)
        return loader.from_pretrained(ref, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load Hugging Face backbone {ref!r}: {first}") from err


def _needs_hub(ref: str) -> bool:
    """A valid hub id that is no local folder, while the hub is not switched off."""
    from huggingface_hub.constants import is_offline_mode
    from huggingface_hub.utils import validate_repo_id

    if Path(ref).exists() or is_offline_mode():
        return False
    try:
        validate_repo_id(ref)
    except ValueError:
        return False
    return True


def _check_hub(ref: str) -> None:
    """One short request to the hub, so that no network fails now instead of after a minute
    of retries inside ``from_pretrained``; any HTTP answer means the hub is reachable."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    try:
        get_hf_file_metadata(hf_hub_url(ref, "config.json"), timeout=PROBE_TIMEOUT_S)
    except HfHubHTTPError:
        return
    except Exception as err:  # connection refused, DNS, timeout, proxy: all mean no download
        raise ModelError(
            f"cannot download {ref} (no network?): pass a local folder or set HF_HUB_OFFLINE=1"
        ) from err


@cache
def load_extractor(ref: str, trust_remote_code: bool = False) -> Any:
    """The backbone's feature extractor: its sampling rate and input length rule the windows."""
    return _from_pretrained(ref, trust_remote_code, model=False)


def fresh_backbone(ref: str, trust_remote_code: bool = False) -> nn.Module:
    """A newly loaded encoder (Whisper keeps only its encoder), safe to adapt or fine-tune."""
    model = _from_pretrained(ref, trust_remote_code, model=True)
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    return model.eval()


@cache
def load_backbone(ref: str, trust_remote_code: bool = False) -> nn.Module:
    """A shared, frozen encoder for embedding (one copy per process and backbone)."""
    return fresh_backbone(ref, trust_remote_code).requires_grad_(False)


def backbone_window(extractor: Any, window_s: float | None = None) -> int:
    """Samples per backbone input: the feature extractor's fixed length, else ``window_s``.

    Whisper pads every input to ``n_samples`` (30 s); AST crops its filterbank to
    ``max_length`` frames of 10 ms with 25 ms windows; wav2vec2-style extractors take any
    length, so ``window_s`` (default :data:`DEFAULT_WINDOW_S`) decides.
    """
    sr = int(extractor.sampling_rate)
    if (n := getattr(extractor, "n_samples", None)) is not None:
        fixed = int(n)
    elif (frames := getattr(extractor, "max_length", None)) is not None and hasattr(
        extractor, "num_mel_bins"
    ):
        fixed = (int(frames) - 1) * sr // 100 + sr * 25 // 1000
    else:
        return round((window_s or DEFAULT_WINDOW_S) * sr)
    if window_s is not None and round(window_s * sr) > fixed:
        raise ModelError(
            f"window of {window_s} s is longer than this backbone's {fixed / sr:.2f} s input"
        )
    return round(window_s * sr) if window_s is not None else fixed


def hidden_size(model: nn.Module) -> int:
    config = model.config
    return int(getattr(config, "hidden_size", None) or config.d_model)


def block_linears(model: nn.Module) -> list[tuple[str, int, nn.Linear]]:
    """``(name, block index, layer)`` of every linear layer inside the transformer blocks."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and (match := _BLOCK.search(name + ".")):
            found.append((name, int(match.group(1)), module))
    return found


def adapter_targets(
    model: nn.Module, targets: str | Sequence[str] = "ffn_out", from_layer: int = 0
) -> list[str]:
    """Names of the linear layers to adapt, in blocks ``from_layer`` and up.

    By role, read from the layers' shapes so it holds whatever a model version calls them:
    ``ffn_out`` the feed-forward block's last linear (hidden x 4 -> hidden: AST ``mlp.fc2``,
    wav2vec2/HuBERT ``feed_forward.output_dense``, Whisper ``fc2``), ``ffn`` both feed-forward
    linears, ``attention`` the square projections, ``all`` every linear. A list of name
    suffixes (``["q_proj", "v_proj"]``) picks layers by name instead.
    """
    linears = [(n, i, m) for n, i, m in block_linears(model) if i >= from_layer]
    if isinstance(targets, str):
        role = {
            "ffn_out": lambda m: m.in_features > m.out_features,
            "ffn": lambda m: m.in_features != m.out_features,
            "attention": lambda m: m.in_features == m.out_features,
            "all": lambda m: True,
        }.get(targets)
        if role is None:
            raise ModelError(
                f"unknown adapter targets {targets!r}; use one of {', '.join(TARGETS)} "
                "or a list of layer-name suffixes"
            )
        names = [n for n, _, m in linears if role(m)]
    else:
        names = [n for n, _, _ in linears if any(n.endswith(s) for s in targets)]
    if not names:
        blocks = 1 + max((i for _, i, _ in block_linears(model)), default=-1)
        raise ModelError(
            f"no linear layer matches adapter targets {targets!r} from block {from_layer} "
            f"(the backbone has {blocks} blocks)"
        )
    return names


def encode(
    extractor: Any,
    backbone: nn.Module,
    waves: Sequence[np.ndarray],
    layer: int = -1,
    pooling: str = "mean",
) -> torch.Tensor:
    """Pooled hidden states ``(batch, hidden)`` of raw windows at the extractor's rate."""
    inputs = extractor(
        [np.asarray(w, dtype=np.float32) for w in waves],
        sampling_rate=extractor.sampling_rate,
        return_tensors="pt",
    )
    device = next(backbone.parameters()).device
    inputs = {k: v.to(device) for k, v in inputs.items() if k != "attention_mask"}
    out = backbone(**inputs, output_hidden_states=layer != -1)
    if pooling == "cls":
        if getattr(out, "pooler_output", None) is None:
            raise ModelError("pooling='cls' needs a backbone with a pooled output (e.g. AST)")
        return out.pooler_output
    hidden = out.last_hidden_state if layer == -1 else out.hidden_states[layer]
    return hidden.mean(dim=1) if pooling == "mean" else hidden.amax(dim=1)


def _check_pooling(pooling: str) -> None:
    if pooling not in ("mean", "max", "cls"):
        raise ModelError(f"unknown pooling {pooling!r}; choose one of mean, max, cls")


@cache
def _weights_digest(ref: str) -> str:
    """Content of a local backbone's config and weights (a hub id stands for itself)."""
    folder = Path(ref)
    if not folder.is_dir():
        return ref
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.suffix in (".json", ".safetensors", ".bin", ".py"):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class HFEmbedder:
    """A frozen backbone's hidden states, pooled over frames and over backbone-length chunks.

    ``layer`` indexes ``hidden_states`` (``-1``: the last layer); ``pool`` is over frames
    (``mean``/``max``, or ``cls`` for AST's pooled token) and, for windows longer than the
    backbone's input, over chunks (always mean).
    """

    backbone: str
    layer: int = -1
    pool: str = "mean"
    chunk_s: float | None = None
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        _check_pooling(self.pool)

    @property
    def sample_rate(self) -> int:
        return int(load_extractor(self.backbone, self.trust_remote_code).sampling_rate)

    @property
    def min_seconds(self) -> float:
        return 0.5

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": "hf", "backbone": self.backbone, "output": "embedding"}
        spec.update(layer=self.layer, pool=self.pool)
        if self.chunk_s is not None:
            spec["chunk_s"] = self.chunk_s
        if self.trust_remote_code:
            spec["trust_remote_code"] = True
        return spec

    def names(self) -> tuple[str, ...]:
        model = load_backbone(self.backbone, self.trust_remote_code)
        return tuple(f"h{self.layer}.{i}.{self.pool}" for i in range(hidden_size(model)))

    def fingerprint(self) -> str:
        return json.dumps([self.spec(), _weights_digest(self.backbone)], sort_keys=True)

    @torch.inference_mode()
    def __call__(self, windows: Sequence[np.ndarray], sr: int) -> np.ndarray:
        from genrelab.audio import fixed_windows

        extractor = load_extractor(self.backbone, self.trust_remote_code)
        model = load_backbone(self.backbone, self.trust_remote_code)
        size = backbone_window(extractor, self.chunk_s)
        chunks, owner = [], []
        for i, w in enumerate(windows):
            w = _resample(np.asarray(w, dtype=np.float32), sr, extractor.sampling_rate)
            for span in fixed_windows(
                len(w), extractor.sampling_rate, size / extractor.sampling_rate, min_last_s=1.0
            ):
                chunks.append(span.take(w))
                owner.append(i)
        rows = torch.cat(
            [
                encode(extractor, model, chunks[i : i + EMBED_BATCH], self.layer, self.pool)
                for i in range(0, len(chunks), EMBED_BATCH)
            ]
        ).numpy()
        owner_arr = np.asarray(owner)
        return np.stack([pool(rows[owner_arr == i], "mean") for i in range(len(windows))]).astype(
            np.float64
        )


def _resample(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return y
    import soxr

    return soxr.resample(y, sr, target, quality="HQ").astype(np.float32)


class BackboneClassifier(nn.Module):
    """Raw windows -> feature extractor -> backbone -> pooled hidden states -> head -> logits."""

    def __init__(
        self,
        extractor: Any,
        backbone: nn.Module,
        n_classes: int,
        *,
        head: str,
        hidden: int,
        dropout: float,
        layer: int,
        pooling: str,
        frozen: bool,
    ):
        super().__init__()
        self.extractor, self.backbone = extractor, backbone
        self.layer, self.pooling, self.frozen = layer, pooling, frozen
        width = hidden_size(backbone)
        if head == "linear":
            self.head = nn.Sequential(
                nn.LayerNorm(width), nn.Dropout(dropout), nn.Linear(width, n_classes)
            )
        else:
            self.head = nn.Sequential(
                nn.LayerNorm(width),
                nn.Linear(width, hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, n_classes),
            )

    def train(self, mode: bool = True) -> BackboneClassifier:
        """A frozen backbone stays in eval mode (no dropout noise in its features)."""
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        waves = list(x.detach().float().cpu().numpy())
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            features = encode(self.extractor, self.backbone, waves, self.layer, self.pooling)
        return self.head(features.float())


@register_model("hf")
class HFAudioModel(TorchGenreModel):
    """A Hugging Face backbone with a classification head; see the module docstring.

    ``mode``: ``frozen`` (train the head only), ``full`` (everything), ``lora`` or ``dora``
    (peft adapters of rank ``adapter_rank`` and scale ``adapter_alpha`` on
    ``adapter_targets`` in blocks ``adapter_from_layer`` and up, plus the head). ``head``:
    ``linear`` or ``mlp`` (``hidden`` units, GELU, ``dropout``). ``window_s``: seconds per
    input (default: the feature extractor's length, else 10 s).
    """

    input_kind: ClassVar[str] = "hf"
    stats_axis: ClassVar[int | None] = None

    def __init__(
        self,
        backbone: str = AST_AUDIOSET,
        mode: str = "frozen",
        head: str = "mlp",
        hidden: int = 256,
        dropout: float = 0.1,
        layer: int = -1,
        pooling: str = "mean",
        adapter_rank: int = 8,
        adapter_alpha: float = 16.0,
        adapter_dropout: float = 0.0,
        adapter_from_layer: int = 0,
        adapter_targets: str | list[str] = "ffn_out",
        window_s: float | None = None,
        trust_remote_code: bool = False,
        standardize: bool = False,
        **training: Any,
    ):
        super().__init__(standardize=standardize, **training)
        self.backbone = backbone
        self.mode = mode
        self.head = head
        self.hidden = hidden
        self.dropout = dropout
        self.layer = layer
        self.pooling = pooling
        self.adapter_rank = adapter_rank
        self.adapter_alpha = adapter_alpha
        self.adapter_dropout = adapter_dropout
        self.adapter_from_layer = adapter_from_layer
        self.adapter_targets = adapter_targets
        self.window_s = window_s
        self.trust_remote_code = trust_remote_code
        if mode not in MODES:
            raise ModelError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if head not in HEADS:
            raise ModelError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
        _check_pooling(pooling)

    # -- what the data must look like -------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return int(load_extractor(self.backbone, self.trust_remote_code).sampling_rate)

    def window_samples(self) -> int:
        return backbone_window(load_extractor(self.backbone, self.trust_remote_code), self.window_s)

    def frontend_spec(self) -> dict[str, Any]:
        """The card's front end: windows resampled to the backbone's rate and padded."""
        return {
            "kind": "hf",
            "backbone": self.backbone,
            "output": "waveform",
            "sample_rate": self.sample_rate,
            "duration": self.window_samples() / self.sample_rate,
        }

    def windowing(self) -> dict[str, float]:
        """Back-to-back windows of the backbone's input length."""
        window = self.window_samples() / self.sample_rate
        return {"window_s": window, "hop_s": window, "min_s": min(1.0, window)}

    # -- network ---------------------------------------------------------------------------

    def build_network(self, n_classes: int) -> nn.Module:
        extractor = load_extractor(self.backbone, self.trust_remote_code)
        backbone = fresh_backbone(self.backbone, self.trust_remote_code)
        torch.manual_seed(self.seed)  # loading may draw random numbers; adapters and head not
        for p in backbone.parameters():
            p.requires_grad = self.mode == "full"
        if self.mode in ("lora", "dora"):
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(
                r=self.adapter_rank,
                lora_alpha=self.adapter_alpha,
                lora_dropout=self.adapter_dropout,
                target_modules=adapter_targets(
                    backbone, self.adapter_targets, self.adapter_from_layer
                ),
                use_dora=self.mode == "dora",
            )
            backbone = get_peft_model(backbone, config)
        return BackboneClassifier(
            extractor,
            backbone,
            n_classes,
            head=self.head,
            hidden=self.hidden,
            dropout=self.dropout,
            layer=self.layer,
            pooling=self.pooling,
            frozen=self.mode == "frozen",
        )

    def owned(self, key: str) -> bool:
        """State the bundle must keep: all but the untouched pretrained backbone weights."""
        return self.mode == "full" or ".backbone." not in key or "lora_" in key

    def save(self, directory: Path) -> None:
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items() if self.owned(k)}
        trust.save_torch_state(state, directory)
        meta = {
            "classes": list(map(str, self.classes_)),
            "input_shape": list(self.input_shape_),
            "backbone": self.backbone,
            "saved": "all weights" if self.mode == "full" else "head and adapters",
        }
        (directory / META).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> HFAudioModel:
        """Rebuild through ``from_pretrained`` (as in training), then restore the saved state."""
        model = cls(**params)
        meta = json.loads((directory / META).read_text())
        model.classes_ = np.asarray(meta["classes"])
        model._build(tuple(meta["input_shape"]))
        state = trust.load_torch_state(directory, model.torch_device)
        missing, unexpected = model.module_.load_state_dict(state, strict=False)
        lost = [k for k in missing if model.owned(k)]
        if unexpected or lost:
            raise ModelError(
                f"{directory}: saved weights do not fit the backbone "
                f"({len(unexpected)} unexpected, {len(lost)} missing tensors)"
            )
        model.module_.eval()
        return model


@register_model("ast_dora")
class ASTDoRAModel(HFAudioModel):
    """The AST + DoRA recipe: AudioSet AST, DoRA of rank 2 on the feed-forward outputs of
    blocks 10 and 11, MLP head; every ``hf`` parameter can still be overridden."""

    RECIPE: ClassVar[dict[str, Any]] = {
        "mode": "dora",
        "head": "mlp",
        "adapter_rank": 2,
        "adapter_alpha": 4.0,
        "adapter_from_layer": 10,
    }

    def __init__(self, **params: Any):
        super().__init__(**{**self.RECIPE, **params})


ASTDoRAModel.__signature__ = inspect.signature(HFAudioModel).replace(
    parameters=[
        p.replace(default=ASTDoRAModel.RECIPE.get(p.name, p.default))
        for p in inspect.signature(HFAudioModel).parameters.values()
    ]
)


def load_waveform_data(spec: str, model: HFAudioModel) -> Any:
    """A dataset as padded raw windows at the backbone's rate, ready for ``train(data, ...)``.

    Tracks are cut as ``classify`` cuts them (the card's windowing, with an end-aligned last
    window for a long enough tail), so nothing is truncated; each window keeps its track as
    ``group``.
    """
    from genrelab.audio import load
    from genrelab.data import load_dataset
    from genrelab.errors import DataError, GenrelabError
    from genrelab.features.frontends import build_frontend
    from genrelab.pipeline import Windowing
    from genrelab.training import FeatureData, table_features

    df = load_dataset(spec)
    if table_features(df):
        raise DataError(f"{spec} is a feature table; {model.name} models need audio files")
    sr, windowing = model.sample_rate, model.windowing()
    cut = Windowing.from_card(sr, windowing)
    frontend = build_frontend(model.frontend_spec())
    rows, labels, groups, kept, errors = [], [], [], [], []
    for index, item in df.iterrows():
        try:
            y, _ = load(item["path"], sr=sr)
        except GenrelabError as err:
            errors.append((item["path"], str(err)))
            continue
        spans = cut.spans(len(y))
        rows.append(frontend([s.take(y) for s in spans], sr))
        labels += [item["label"]] * len(spans)
        groups += [item["group"]] * len(spans)
        kept.append(index)
    if not rows:
        raise DataError(f"{spec}: no file could be decoded ({len(errors)} errors)")
    return FeatureData(
        X=np.concatenate(rows),
        labels=np.asarray(labels, dtype=str),
        groups=np.asarray(groups, dtype=str),
        tracks=df.loc[kept, ["group", "label", "split", "path"]].reset_index(drop=True),
        frontend=model.frontend_spec(),
        sample_rate=sr,
        windowing=windowing,
        source=str(spec),
        errors=errors,
    )
