"""Datasets as in-memory tensors, and input corruptions.

Example: ``load_dataset(DataConfig(name="mnist"), "train").x`` is a (60000, 1, 28, 28) tensor.
"""

from genzoo.data.base import (
    DataConfig,
    DatasetInfo,
    TensorData,
    check_data_config,
    convert_images,
    data_root,
    list_datasets,
    load_dataset,
)
from genzoo.data.corrupt import apply_noise, parse_noise

__all__ = [
    "DataConfig",
    "DatasetInfo",
    "TensorData",
    "apply_noise",
    "check_data_config",
    "convert_images",
    "data_root",
    "list_datasets",
    "load_dataset",
    "parse_noise",
]
