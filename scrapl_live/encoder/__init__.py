"""Sound-matching encoder: CQT front-end + 2-D CNN, ONNX export with a model card, and its reversal.

Public API: :class:`Encoder`, :class:`EncoderConfig`, :func:`encoder_config` (presets), :func:`export_onnx`,
:func:`load_card`, :func:`onnx_to_torch`, :class:`OnnxEncoder`, :func:`encoder_checkpoint`,
:func:`encoder_from_checkpoint`.
"""

from scrapl_live.encoder.card import load_card
from scrapl_live.encoder.encoder import Encoder, encoder_checkpoint, encoder_from_checkpoint
from scrapl_live.encoder.export import export_onnx, onnx_to_torch
from scrapl_live.encoder.presets import EncoderConfig, encoder_config
from scrapl_live.encoder.runtime import OnnxEncoder

__all__ = [
    "Encoder",
    "EncoderConfig",
    "OnnxEncoder",
    "encoder_checkpoint",
    "encoder_config",
    "encoder_from_checkpoint",
    "export_onnx",
    "load_card",
    "onnx_to_torch",
]
