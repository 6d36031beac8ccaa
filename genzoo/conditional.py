"""Class-conditional models: the one helper that the CLI and the apps ask.

A model is class-conditional when it declares the Conditional capability
(``genzoo.models.capabilities``): ``num_classes``, ``class_names``, and labels ``y`` taken by
``sample`` and the rest; no ``isinstance`` on model families. ``--class`` of ``genzoo
sample`` (shared by every conditional family) is resolved here, so Python users get the same
parsing: an index, a class name (case-insensitive), or ``all``.
"""

from __future__ import annotations

import torch

from genzoo.errors import ConfigError, GenzooError


def is_conditional(model: object) -> bool:
    from genzoo.models import capabilities as caps

    return caps.has(model, caps.Capability.CONDITIONAL)


def _require(model: object, option: str) -> list[str]:
    """The model's class names; a GenzooError naming the conditional families if it has none."""
    from genzoo.models import capabilities as caps

    caps.require(model, caps.Capability.CONDITIONAL, option)
    return list(model.class_names)  # type: ignore[attr-defined]


def class_indices(model: object, spec: str) -> list[int]:
    """The classes named by ``spec``: 'all', an index, or a class name; a clear error otherwise."""
    names = _require(model, "--class")
    text = spec.strip()
    if text.lower() == "all":
        return list(range(len(names)))
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return [lowered.index(text.lower())]
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
        return [int(text)]
    raise GenzooError(f"unknown class {spec!r}; the classes are: {', '.join(names)} (or all)")


# what a prompt may say instead of a class name (keys and values as _words leaves them)
SYNONYMS = {
    "tshirt": "t-shirt", "tee": "t-shirt", "pant": "trouser", "jean": "trouser", "sweater": "pullover",
    "jumper": "pullover", "jacket": "coat", "trainer": "sneaker", "shoe": "sneaker", "handbag": "bag",
    "purse": "bag", "boot": "ankle boot", "zero": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
FILLER = {"a", "an", "the", "of", "image", "picture", "photo", "drawing", "digit", "number", "some"}


def _words(text: str) -> str:
    """Lower case, filler words dropped, plurals made singular: 'Two ankle boots' -> 'two ankle boot'."""
    out = []
    for w in text.lower().replace("_", " ").split():
        if w in FILLER:
            continue
        if w.endswith(("shes", "ches", "xes", "sses")):
            w = w[:-2]
        elif w.endswith("s") and not w.endswith("ss") and len(w) > 3:
            w = w[:-1]
        out.append(w)
    return " ".join(out)


def class_from_prompt(model: object, prompt: str) -> int:
    """The class a text prompt names ('ankle boot', 'Sneakers', 'a picture of a seven'), matched
    case-insensitively to the model's class names (or to one part of a name such as 'T-shirt/top'),
    tolerating plurals and a few synonyms; a GenzooError listing the names when nothing matches."""
    names = _require(model, "--prompt")
    want = _words(prompt)
    for i, name in enumerate(names):
        options = {_words(name)} | {_words(part) for part in name.split("/")}
        if {want, SYNONYMS.get(want), SYNONYMS.get(want.replace(" ", "").replace("-", ""))} & options:
            return i
    raise GenzooError(f"no class matches the prompt {prompt!r}; the classes are: {', '.join(names)}")


def sample_rows(
    model: object, spec: str, per_class: int, generator: torch.Generator | None = None, **kw
) -> list[torch.Tensor]:
    """One row of ``per_class`` samples for each class named by ``spec`` (``kw``: more sample options)."""
    return [
        model.sample(per_class, generator=generator, y=torch.full((per_class,), c, dtype=torch.long), **kw)
        for c in class_indices(model, spec)
    ]


class ClassConditional:
    """Mixin of the class-conditional models (cvae, cgan): ``num_classes``/``class_names`` from a
    config with those fields, and label checking with an error that names the classes."""

    config: object

    @staticmethod
    def check_class_config(config: object) -> None:
        k, names = config.num_classes, config.class_names
        if k < 1:
            raise ConfigError(f"num_classes must be at least 1, got {k}")
        if names and len(names) != k:
            raise ConfigError(f"class_names has {len(names)} names but num_classes is {k}")

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names or tuple(str(i) for i in range(self.num_classes))

    def check_labels(self, y: torch.Tensor | int | list[int], n: int | None = None) -> torch.Tensor:
        """Labels as a (n,) long tensor; an out-of-range label is a GenzooError naming the classes."""
        y = torch.as_tensor(y, dtype=torch.long)
        if n is not None and y.dim() == 0:
            y = y.expand(n)
        if n is not None and y.shape != (n,):
            raise GenzooError(f"{n} examples need {n} class labels, got labels of shape {tuple(y.shape)}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise GenzooError(
                f"class labels must be in 0..{self.num_classes - 1} ({', '.join(self.class_names)}); "
                f"got {sorted(set(y.tolist()))}"
            )
        return y

    def batch_labels(self, batch: tuple) -> torch.Tensor:
        """The checked labels of a training batch; unlabelled data are a GenzooError."""
        if batch[1] is None:
            raise GenzooError(
                f"{self.model_type} needs labelled data (class labels y); this dataset has none"
            )
        return self.check_labels(batch[1])
