"""Where a run's attribute vectors come from: its own images (pixel statistics, class labels, or
an attribute table matched to a folder dataset by file name), or, for a model that cannot encode,
its samples labelled by its class or by the dataset's shipped classifier.

The recipe of ``genzoo attributes`` and ``genzoo.Run.attributes``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from genzoo import conditional, latent
from genzoo.apps import attribute_table
from genzoo.apps import attributes as attr
from genzoo.errors import DataError, GenzooError

if TYPE_CHECKING:
    from genzoo.data import DataConfig
    from genzoo.run import Run, Which


def source_kind(source: str) -> str:
    """ "pixels" or "labels" as they are; anything else names an attribute table: "table"."""
    return source if source in attr.SOURCES else "table"


def table_images(
    data: DataConfig,
    split: str,
    x: torch.Tensor,
    y: torch.Tensor | None,
    table_file: str,
    ignore_missing: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
    """The images of a folder split that have a row in the attribute table, their labels and
    the table's high masks (attribute -> (N,) bool)."""
    from genzoo.data.folder import image_names

    if data.name != "folder":
        raise GenzooError(
            f"--from {table_file} matches images by file name, so it needs a folder dataset "
            f"(--data folder with the run's --data-path); this run's data are {data.name}"
        )
    if data.classes is not None:
        raise GenzooError("--from a table cannot match file names when the run keeps only some classes")
    table = attribute_table.read_attribute_table(table_file)
    split_names = image_names(data.path, split)[: len(x)]  # `limit` keeps a prefix
    if len(split_names) != len(x):
        raise DataError(f"the folder {data.path} changed: {len(split_names)} names for {len(x)} images")
    idx, high = attribute_table.match_table(table, split_names, image_names(data.path), ignore_missing)
    masks = {name: high[:, k] for k, name in enumerate(table.names)}
    return x[idx], None if y is None else y[idx], masks


def shipped_classifier(dataset: str, shape: tuple[int, ...]):
    """The shipped classifier of ``dataset`` as images -> class indices, or None if there is none."""
    from genzoo.eval import features

    if dataset not in features.available() or features.shipped_input_shape(dataset) != tuple(shape):
        return None
    net, _ = features.load_feature_net(dataset)
    return lambda x: features.extract(net, x)[1].argmax(1)


def run_attributes(
    run: Run,
    source: str = "pixels",
    *,
    which: Which = "latest",
    split: str = "train",
    n: int = 10000,
    seed: int = 0,
    ignore_missing: bool = False,
    model: Any = None,
    **overrides: Any,
) -> attr.Attributes:
    """Attribute centroids of ``run``'s model (``model``: the one already loaded from it) from
    ``source`` ("pixels", "labels" or a table file), on the run's ``split`` (``overrides``: data
    settings, e.g. root=)."""
    model = run.model(which) if model is None else model
    attr.check_latent(model)
    kind = source_kind(source)
    if latent.can_encode(model):
        part = run.data(split, which=which, **overrides)
        x, y, names = part.x, part.y, part.info.class_names
        table = None
        if kind == "table":
            data = run.data_config(which, **overrides)
            x, y, table = table_images(data, split, x, y, source, ignore_missing)
        return attr.compute_attributes(
            model, x, y, source=kind, table=table, class_names=names, n=n, seed=seed
        )
    if kind == "table":
        raise GenzooError(f"{model.model_type} cannot encode images, so --from a table does not apply")
    data = run.data_config(which, **overrides)
    classify = None if conditional.is_conditional(model) else shipped_classifier(data.name, model.shape)
    names = tuple(model.class_names) if conditional.is_conditional(model) else None
    if classify is not None:
        from genzoo.eval.features import load_feature_net

        names = tuple(load_feature_net(data.name)[1].get("classes", ())) or None
    return attr.compute_attributes(model, source=kind, class_names=names, n=n, seed=seed, classify=classify)
