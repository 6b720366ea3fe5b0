"""Tiny random Hugging Face backbones, built and saved locally: tests never download."""

from __future__ import annotations

from pathlib import Path

#: Two blocks of width 32: big enough to train, small enough for a 2-core test run.
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
#: A short convolutional feature encoder for the wav2vec2 family (HuBERT, DistilHuBERT).
CONV = dict(
    conv_dim=(16, 16),
    conv_stride=(5, 4),
    conv_kernel=(10, 8),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)


def _build(name: str):
    import transformers as tf

    if name == "ast":
        return (
            tf.ASTModel(tf.ASTConfig(**SMALL, num_mel_bins=16, max_length=100)),
            tf.ASTFeatureExtractor(num_mel_bins=16, max_length=100),
        )
    if name == "hubert":
        return tf.HubertModel(tf.HubertConfig(**SMALL, **CONV)), tf.Wav2Vec2FeatureExtractor()
    if name == "wav2vec2":
        return tf.Wav2Vec2Model(tf.Wav2Vec2Config(**SMALL, **CONV)), tf.Wav2Vec2FeatureExtractor()
    if name == "whisper":
        config = tf.WhisperConfig(
            d_model=32,
            encoder_layers=2,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=37,
            decoder_ffn_dim=37,
            num_mel_bins=16,
            max_source_positions=50,
            max_target_positions=8,
            vocab_size=64,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
        )
        return tf.WhisperModel(config), tf.WhisperFeatureExtractor(feature_size=16, chunk_length=1)
    raise ValueError(f"no tiny {name}")


def save_tiny_backbones(root: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Random models (seeded, built in the order given) saved with their feature extractors."""
    import torch

    torch.manual_seed(0)
    out = {}
    for name in names:
        model, extractor = _build(name)
        model.save_pretrained(root / name)
        extractor.save_pretrained(root / name)
        out[name] = str(root / name)
    return out
