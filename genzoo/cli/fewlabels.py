"""``genzoo pretrain-eval, augment``: learning from few labels with a generative model (the logic lives in ``genzoo.apps``)."""

from __future__ import annotations


def add_parsers(sub) -> None:
    """Not yet: the commands of this group are being built."""
