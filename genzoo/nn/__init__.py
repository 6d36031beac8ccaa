"""Shared network blocks; they know nothing of models, losses or training."""

from genzoo.nn.blocks import ConvDecoder, ConvEncoder, check_layer_sizes, encoder_decoder, mlp

__all__ = ["ConvDecoder", "ConvEncoder", "check_layer_sizes", "encoder_decoder", "mlp"]
