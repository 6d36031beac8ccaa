"""Shared network blocks; they know nothing of models, losses or training."""

from genzoo.nn.blocks import ConvDecoder, ConvEncoder, mlp

__all__ = ["ConvDecoder", "ConvEncoder", "mlp"]
