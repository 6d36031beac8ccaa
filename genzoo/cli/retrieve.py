"""``genzoo retrieve``: nearest neighbours and semantic hashing in code space (the logic lives in ``genzoo.apps``)."""

from __future__ import annotations


def add_parsers(sub) -> None:
    """Not yet: the commands of this group are being built."""
