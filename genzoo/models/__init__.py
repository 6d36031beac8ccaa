"""Model families; importing this package registers them."""

from genzoo.models import autoencoder, diffusion, flow, gan, hvae, seq_autoencoder, vae  # noqa: F401
from genzoo.models.base import GenerativeModel, Output

__all__ = ["GenerativeModel", "Output"]
