"""Pre-trained models shipped with genrelab (converted once, never downloaded at run time)."""

from genrelab.pretrained.musicnn_onnx import MusicnnTagger

__all__ = ["MusicnnTagger"]
