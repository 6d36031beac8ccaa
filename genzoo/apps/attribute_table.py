"""CelebA-style attribute tables: per-image binary attributes read from a ``list_attr`` file and
matched by file name to the images of a folder dataset (the groups of ``genzoo attributes --from
FILE``, so that a folder of faces and its table give the lecture's sliders)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from genzoo.errors import DataError


@dataclass
class AttributeTable:
    """A list_attr table: files (N,), attribute names (A,), high (N, A) bool (value 1)."""

    files: list[str]
    names: list[str]
    high: torch.Tensor


def read_attribute_table(path: str | Path) -> AttributeTable:
    """Read a table in the layout of CelebA's ``list_attr_celeba.txt``: line 1 the number of images,
    line 2 the attribute names, then one line per image ``file v1 v2 ...`` with values -1/1 (or 0/1),
    separated by spaces or commas. Any deviation is a DataError naming the line."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except FileNotFoundError:
        raise DataError(f"attribute table {path} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the attribute table {path}: {e}") from None

    def split(line: str) -> list[str]:
        return [t for t in re.split(r"[\s,]+", line.strip()) if t]

    if len(lines) < 3:
        raise DataError(f"{path}: expected a count line, a line of attribute names and image lines")
    first = split(lines[0])
    if len(first) != 1 or not first[0].isdigit():
        raise DataError(
            f"{path} line 1: expected the number of images (CelebA list_attr layout), got {lines[0]!r}"
        )
    names = split(lines[1])
    if names and names[0].lower() in ("image_id", "filename", "file"):
        names = names[1:]  # a header that names the file column
    if len(set(names)) != len(names):
        raise DataError(f"{path} line 2: attribute names repeat")
    files, rows = [], []
    for no, line in enumerate(lines[2:], start=3):
        parts = split(line)
        if len(parts) != len(names) + 1:
            raise DataError(f"{path} line {no}: {len(parts) - 1} values for {len(names)} attributes")
        try:
            values = [int(v) for v in parts[1:]]
        except ValueError:
            values = [2]
        if any(v not in (-1, 0, 1) for v in values):
            bad = next(v for v in parts[1:] if v not in ("-1", "0", "1", "+1"))
            raise DataError(f"{path} line {no}: value {bad!r}; expected -1/1 (or 0/1)")
        files.append(parts[0])
        rows.append(values)
    if int(first[0]) != len(files):
        raise DataError(f"{path}: line 1 says {first[0]} images but {len(files)} lines follow")
    if len(set(files)) != len(files):
        dup = next(f for f in files if files.count(f) > 1)
        raise DataError(f"{path}: image {dup!r} is listed twice")
    v = torch.tensor(rows, dtype=torch.int8)  # (N, A)
    if bool((v == 0).any()) and bool((v == -1).any()):
        raise DataError(f"{path}: values mix -1 and 0; use -1/1 or 0/1")
    return AttributeTable(files, names, v == 1)


def match_table(
    table: AttributeTable, image_names: Sequence[str], all_names: Sequence[str], ignore_missing: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``table`` for images named ``image_names`` (relative paths in a folder dataset whose
    images are ``all_names``): a file in the table matches a relative path or a unique base name.
    Returns (index (M,) into image_names of the images with a row, high (M, A)). A table file that
    names no image of the folder is a DataError unless ``ignore_missing``."""
    by_path = set(all_names)
    base: dict[str, list[str]] = {}
    for p in all_names:
        base.setdefault(p.rsplit("/", 1)[-1], []).append(p)

    def resolve(f: str) -> str | None:
        if f in by_path:
            return f
        hits = base.get(f, [])
        return hits[0] if len(hits) == 1 else None

    resolved = [resolve(f) for f in table.files]
    unknown = [f for f, r in zip(table.files, resolved, strict=True) if r is None]
    if unknown and not ignore_missing:
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        raise DataError(
            f"the attribute table names {len(unknown)} image(s) not in the folder ({shown}); "
            "check the folder, or skip them with --ignore-missing"
        )
    row_of = {r: i for i, r in enumerate(resolved) if r is not None}
    idx = [k for k, name in enumerate(image_names) if name in row_of]
    if not idx:
        raise DataError("no image of the split has a row in the attribute table")
    rows = torch.tensor([row_of[image_names[k]] for k in idx], dtype=torch.long)
    return torch.tensor(idx, dtype=torch.long), table.high[rows]


__all__ = ["AttributeTable", "match_table", "read_attribute_table"]
