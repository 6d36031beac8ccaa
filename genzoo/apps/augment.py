"""Data augmentation with generated samples: do class-conditional samples help a classifier that
has few labels?

A small classifier (``SmallClassifier``) is trained on n class-balanced labelled examples of the
training split (``few_labels``) alone, and on the same n plus M generated examples of each of
the K classes, x ~ p_model(x | y) from a class-conditional model (cvae, cgan, cddpm: any model
that declares ``num_classes`` and whose ``sample`` takes labels y; asked with
``genzoo.conditional.is_conditional``). A third row trains on the K M generated examples alone: its
test accuracy measures how class-faithful the samples are (a classifier that learned only from
them must recognise real digits). Every row uses the same steps, batch size and learning rate;
the seed draws the label subset, the samples, the initialisation and the minibatches. Scores are
test accuracy on the whole test split, with mean and sample standard deviation over the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from genzoo import progress
from genzoo.apps.classifier import accuracy, train_classifier
from genzoo.apps.pretrain import check_counts, label_subset, num_classes_of, split_xy, summarise
from genzoo.errors import ConfigError
from genzoo.latent import model_kind
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

ROWS = {
    "real": "the few real labels alone",
    "real + generated": "the real labels plus the generated samples",
    "generated only": "the generated samples alone",
}
FLAGS = {"guidance": "--guidance", "steps": "--sample-steps", "sampler": "--sampler"}  # the CLI's names


def check_conditional(model: object, num_classes: int | None = None) -> None:
    """A GenzooError unless the model samples a class on request (and has ``num_classes`` classes)."""
    caps.require(model, Capability.CONDITIONAL, "augment (labelled samples)")
    if num_classes is not None and model.num_classes != num_classes:  # type: ignore[attr-defined]
        raise ConfigError(
            f"{model_kind(model)} has {model.num_classes} classes but the data have {num_classes}"  # type: ignore[attr-defined]
        )


def check_sample_options(model: object, options: dict[str, Any]) -> None:
    """A ConfigError naming a sampler option (guidance, steps, sampler) the model's ``sample`` lacks."""
    takes = caps.sample_options(model)
    for name in options:
        if name not in takes:
            flag = FLAGS.get(name, f"the sampler option {name!r}")
            raise ConfigError(
                f"{flag} does not apply to {model_kind(model)}: its sample() takes no {name} "
                f"({', '.join(caps.families_with(Capability.ITERATIVE))} do)"
            )


@torch.no_grad()
def sample_per_class(
    model: Any, per_class: int, seed: int = 0, **sample_kw: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` samples of each class, x ~ p(x | y): (x (K M, *shape) on the CPU, y (K M,)
    long, class 0 first), drawn with ``seed``; ``sample_kw``: sampler options (guidance, steps)."""
    sample_kw = {key: v for key, v in sample_kw.items() if v is not None}  # None: the model's default
    check_conditional(model)
    check_counts(per_class=per_class)
    check_sample_options(model, sample_kw)
    y = torch.arange(model.num_classes).repeat_interleave(per_class)  # (K M,)
    g = torch.Generator().manual_seed(seed)
    x = model.sample(len(y), generator=g, y=y, **sample_kw)
    return x.detach().float().cpu(), y


def training_sets(
    x: torch.Tensor, y: torch.Tensor, generated: tuple[torch.Tensor, torch.Tensor]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The three training sets of the rows: real (n), real + generated (n + K M), generated (K M)."""
    xg, yg = generated
    return {
        "real": (x, y),
        "real + generated": (torch.cat([x, xg]), torch.cat([y, yg])),
        "generated only": (xg, yg),
    }


def augment_eval(
    model: Any,
    train: Any,
    test: Any,
    labels: int,
    *,
    per_class: int = 100,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 1e-3,
    generated_only: bool = True,
    samples: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
    sample_options: dict[str, Any] | None = None,
    log=None,
) -> dict[str, Any]:
    """A SmallClassifier on ``labels`` class-balanced real examples of ``train`` (a TensorData or
    an (x, y) pair) vs the same plus ``per_class`` generated examples per class, and (with
    ``generated_only``) on the generated examples alone; test accuracy on all of ``test``, per seed.

    ``samples``: the generated sets, one (x, y) per seed (``sample_per_class``), to reuse them
    across label counts; drawn here otherwise, with ``sample_options`` passed to ``model.sample``
    (a cddpm's guidance, steps, sampler; None values mean the model's default). Returns {'model',
    'labels', 'per_class', 'seeds', 'steps', 'sampler', 'examples': {row: training-set size},
    'rows': {row: {'acc', 'mean', 'std'}}}."""
    sample_kw = {key: v for key, v in (sample_options or {}).items() if v is not None}
    check_conditional(model)
    x, y = split_xy(train, "train")
    xt, yt = split_xy(test, "test")
    k = num_classes_of(train, y)
    check_conditional(model, k)
    check_counts(labels=labels, per_class=per_class, steps=steps, batch_size=batch_size, seeds=len(seeds))
    check_sample_options(model, sample_kw)
    shape = tuple(model.shape)
    if tuple(x.shape[1:]) != shape or tuple(xt.shape[1:]) != shape:
        raise ConfigError(f"the data have shape {tuple(x.shape[1:])}; the model expects {shape}")
    if samples is not None and len(samples) != len(seeds):
        raise ConfigError(f"{len(seeds)} seeds need {len(seeds)} generated sets, got {len(samples)}")
    subsets = [label_subset(y, labels, s, k) for s in seeds]  # a bad --labels fails before sampling
    names = [n for n in ROWS if generated_only or n != "generated only"]
    out: dict[str, list[float]] = {n: [] for n in names}
    sizes: dict[str, int] = {}
    jobs = len(names) + (samples is None)  # per seed: drawing the generated set, then a classifier per row
    what = (
        f"{'samples and ' if samples is None else ''}{len(names)} classifiers for each of {len(seeds)} seeds"
    )
    bar = progress.task(len(seeds) * jobs, "augment", "jobs", what=what)
    for i, (seed, idx) in enumerate(zip(seeds, subsets, strict=True)):
        if samples is not None:
            gen = samples[i]
        else:
            gen = sample_per_class(model, per_class, seed, **sample_kw)
            bar.update()
        if len(gen[1]) != k * per_class:
            raise ConfigError(f"a generated set has {len(gen[1])} examples; {k} x {per_class} were asked")
        sets = training_sets(x[idx], y[idx], gen)
        for name in names:
            xs, ys = sets[name]
            sizes[name] = len(ys)
            net = train_classifier(xs, ys, k, steps=steps, seed=seed, batch_size=batch_size, lr=lr)
            out[name].append(accuracy(net, xt, yt))
            bar.update()
        if log:
            log(f"seed {seed}: " + ", ".join(f"{n} {v[-1]:.3f}" for n, v in out.items()))
    bar.close()
    return {
        "model": model_kind(model),
        "labels": labels,
        "per_class": per_class,
        "seeds": list(seeds),
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "num_classes": k,
        "test_size": len(xt),
        "sampler": sample_kw,
        "examples": sizes,
        "rows": {n: summarise(v) for n, v in out.items()},
    }


__all__ = [
    "ROWS",
    "augment_eval",
    "check_conditional",
    "check_sample_options",
    "sample_per_class",
    "training_sets",
]
