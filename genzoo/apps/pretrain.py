"""Unsupervised pre-training, then few labels: does a generative model's encoder help a classifier?

The lecture's "train a stacked autoencoder unsupervised to obtain weights": the encoder f of a
trained model (ae, dae, deep-ae, vae, beta-vae; asked by capability, ``encode`` without labels)
becomes the body of a classifier p(y|x) = softmax(W f(x) + b) trained on n labelled examples,
a class-balanced subset of the training split (``few_labels``). Three rows, each per seed:

- ``fine-tune``: a deep copy of the model, the classifier head(copy.encode(x)) with a linear head
  (d -> K) on codes standardised with the mean and deviation of the n labelled codes at the start
  (fixed; it only conditions the optimisation), trained by cross-entropy; only the parameters
  that ``encode`` reaches (found by one autograd pass) and the head are optimised; the decoder
  and the loaded model are left as they were;
- ``scratch``: the same network with those parameters re-initialised (each module's
  ``reset_parameters``, seeded) and trained identically: the value of the pre-trained weights;
- ``logistic``: scikit-learn's logistic regression on the frozen, standardised codes z = encode(x).

A VAE's code is its posterior mean mu(x). The seed draws the label subset, the head's and the
scratch network's initialisation and the minibatches; scores are test accuracy over the whole test
split, with mean and sample standard deviation over the seeds.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from genzoo import conditional, latent, progress
from genzoo.apps.classifier import accuracy, few_labels, fit
from genzoo.errors import ConfigError, DataError, GenzooError
from genzoo.latent import model_kind
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

ROWS = {
    "fine-tune": "pre-trained encoder + linear head, fine-tuned",
    "scratch": "same network, re-initialised, trained the same",
    "logistic": "logistic regression on the frozen codes",
}


# ------------------------------------------------------------------------------------ the data
def split_xy(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (N, *shape), y (N,) long) of a TensorData or an (x, y) pair; unlabelled data are a DataError."""
    x, y = (data.x, data.y) if hasattr(data, "x") else data
    if y is None:
        what = getattr(getattr(data, "info", None), "name", "these data")
        raise DataError(f"the {name} split of {what} has no class labels; few-label learning needs them")
    y = torch.as_tensor(y, dtype=torch.long)
    if len(x) != len(y):
        raise DataError(f"the {name} split has {len(x)} examples but {len(y)} labels")
    return x, y


def num_classes_of(train: Any, y: torch.Tensor) -> int:
    """K: the dataset's class names if it has them, else max label + 1."""
    names = getattr(getattr(train, "info", None), "class_names", None)
    return len(names) if names else int(y.max()) + 1


def label_subset(y: torch.Tensor, labels: int, seed: int, num_classes: int) -> torch.Tensor:
    """``few_labels`` with a check that names the split's size: (labels,) sorted indices."""
    if labels > len(y):
        raise ConfigError(f"--labels {labels} is more than the {len(y)} labelled training examples")
    return few_labels(y, labels, seed, num_classes)


def check_counts(**counts: int) -> None:
    """A ConfigError naming the first count below 1 (labels, steps, seeds, ...)."""
    for name, n in counts.items():
        if n < 1:
            raise ConfigError(f"{name} must be at least 1, got {n}")


def summarise(accs: Sequence[float]) -> dict[str, Any]:
    """{'acc': per seed, 'mean', 'std'}: the sample standard deviation (0 for one seed)."""
    accs = [float(a) for a in accs]
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    return {"acc": accs, "mean": statistics.fmean(accs), "std": std}


def format_table(result: dict[str, Any], descriptions: dict[str, str] | None = None) -> str:
    """A markdown table of ``result['rows']``: row, test accuracy mean +- std, per seed."""
    lines = [
        "| method | test accuracy (share correct, 0 to 1; higher is better) | per seed |",
        "|---|---|---|",
    ]
    for name, row in result["rows"].items():
        label = f"{name}: {descriptions[name]}" if descriptions and name in descriptions else name
        seeds = " ".join(f"{a:.3f}" for a in row["acc"])
        lines.append(f"| {label} | {row['mean']:.3f} ± {row['std']:.3f} | {seeds} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------- the encoder network
def check_pretrainable(model: object) -> None:
    """A GenzooError unless the model has an encoder that needs no labels."""
    caps.require(model, Capability.ENCODER, "pretrain-eval")
    if conditional.is_conditional(model):
        raise GenzooError(
            f"{model_kind(model)} is class-conditional: its encoder needs the label it is to predict, so "
            "pretrain-eval does not apply; use an unconditional ae, dae, deep-ae, vae or beta-vae"
        )


class EncoderClassifier(nn.Module):
    """x (B, *shape) -> logits (B, K) = W (z - m) / s + b, z = model.encode(x) (B, d); m, s (d,)
    fixed standardisation of the codes (as for the logistic row), W, b: the linear head Linear(d, K)."""

    def __init__(self, model: nn.Module, z: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", z.mean(0))  # (d,)
        self.register_buffer("scale", z.std(0).clamp(min=1e-6) if len(z) > 1 else torch.ones(z.shape[1]))
        self.head = nn.Linear(z.shape[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((self.model.encode(x) - self.mean) / self.scale)


def encoder_parameters(model: nn.Module, x: torch.Tensor) -> list[nn.Parameter]:
    """The parameters that ``model.encode`` reaches (those with a gradient from encode(x)), in
    ``model.parameters()`` order; x: a few examples (B, *shape)."""
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        z = model.encode(x)
        if not z.requires_grad:
            raise GenzooError(f"{model_kind(model)}'s encode has no trainable parameters to fine-tune")
        grads = torch.autograd.grad(z.sum(), params, allow_unused=True)
    return [p for p, g in zip(params, grads, strict=True) if g is not None]


def reinitialise(model: nn.Module, params: Sequence[nn.Parameter], seed: int) -> None:
    """Draw ``params`` afresh, seeded: ``reset_parameters`` of every module that owns one of them
    (PyTorch's default initialisation); a parameter of a module without it gets Kaiming-uniform
    (a = sqrt(5), the Linear/Conv default) if it is a matrix, zeros otherwise."""
    wanted = {id(p) for p in params}
    done: set[int] = set()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.random.default_generator.manual_seed(seed)  # the CPU RNG only (forked)
        for module in model.modules():
            own = [p for p in module.parameters(recurse=False) if id(p) in wanted]
            if own and callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
                done.update(id(p) for p in module.parameters(recurse=False))
        for p in params:
            if id(p) not in done:
                nn.init.kaiming_uniform_(p, a=math.sqrt(5)) if p.dim() >= 2 else nn.init.zeros_(p)


def encoder_classifier(
    model: nn.Module, x: torch.Tensor, num_classes: int, seed: int, reset: bool = False
) -> tuple[EncoderClassifier, list[nn.Parameter]]:
    """A classifier on a deep copy of ``model`` (the loaded model is never changed) and the
    parameters to train (the copy's encoder parameters, then the head's); x (n, *shape): the
    labelled examples, whose initial codes set the standardisation. ``reset``: the copy's encoder
    re-initialised with ``seed`` (the from-scratch baseline). The head is initialised with
    ``seed`` either way, so both rows start from the same head."""
    net = copy.deepcopy(model)
    for p in net.parameters():
        p.requires_grad_(True)
    enc = encoder_parameters(net, x[:2])
    if reset:
        reinitialise(net, enc, seed)
    z = codes(net, x)  # (n, d)
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)  # the CPU RNG only (forked)
        clf = EncoderClassifier(net, z, num_classes)
    return clf, [*enc, *clf.head.parameters()]


@torch.no_grad()
def codes(model: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """z = encode(x) (N, d) in eval mode (a VAE: the posterior mean); the model's mode is restored."""
    return latent.latent_codes(model, x, batch=batch).float()


def logistic_accuracy(
    z_train: torch.Tensor, y_train: torch.Tensor, z_test: torch.Tensor, y_test: torch.Tensor
) -> float:
    """Test accuracy of an L2-regularised (C = 1) multinomial logistic regression on standardised codes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(z_train.numpy().astype(np.float64), y_train.numpy())
    return float((clf.predict(z_test.numpy().astype(np.float64)) == y_test.numpy()).mean())


# ---------------------------------------------------------------------------------- the protocol
def pretrain_eval(
    model: Any,
    train: Any,
    test: Any,
    labels: int,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 1e-3,
    log=None,
) -> dict[str, Any]:
    """Fine-tuned encoder vs the same network from scratch vs logistic regression on frozen codes,
    each trained on ``labels`` class-balanced labelled examples of ``train`` (a TensorData or an
    (x, y) pair) and scored on all of ``test``, once per seed.

    Returns {'model', 'labels', 'seeds', 'steps', 'num_classes', 'test_size', 'code_dim',
    'rows': {'fine-tune' | 'scratch' | 'logistic': {'acc': [per seed], 'mean', 'std'}}}."""
    check_pretrainable(model)
    check_counts(labels=labels, steps=steps, batch_size=batch_size, seeds=len(seeds))
    x, y = split_xy(train, "train")
    xt, yt = split_xy(test, "test")
    k = num_classes_of(train, y)
    shape = tuple(model.shape)
    if tuple(x.shape[1:]) != shape or tuple(xt.shape[1:]) != shape:
        raise ConfigError(f"the data have shape {tuple(x.shape[1:])}; the model expects {shape}")
    subsets = [label_subset(y, labels, s, k) for s in seeds]  # every bad --labels fails before training
    z_test = codes(model, xt)
    out: dict[str, list[float]] = {name: [] for name in ROWS}
    what = f"{len(ROWS)} classifiers for each of {len(seeds)} seeds ({steps:,} steps each)"
    bar = progress.task(len(seeds) * len(ROWS), "pretrain-eval", "classifiers", what=what)
    for seed, idx in zip(seeds, subsets, strict=True):
        xs, ys = x[idx], y[idx]
        for name in ("fine-tune", "scratch"):
            clf, params = encoder_classifier(model, xs, k, seed, reset=name == "scratch")
            fit(clf, xs, ys, steps=steps, batch_size=batch_size, lr=lr, seed=seed, params=params)
            out[name].append(accuracy(clf, xt, yt))
            bar.update()
        out["logistic"].append(logistic_accuracy(codes(model, xs), ys, z_test, yt))
        bar.update()
        if log:
            log(f"seed {seed}: " + ", ".join(f"{n} {v[-1]:.3f}" for n, v in out.items()))
    bar.close()
    return {
        "model": model_kind(model),
        "labels": labels,
        "seeds": list(seeds),
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "num_classes": k,
        "test_size": len(xt),
        "code_dim": int(z_test.shape[1]),
        "rows": {name: summarise(v) for name, v in out.items()},
    }


__all__ = [
    "ROWS",
    "EncoderClassifier",
    "check_counts",
    "check_pretrainable",
    "codes",
    "encoder_classifier",
    "encoder_parameters",
    "format_table",
    "label_subset",
    "logistic_accuracy",
    "pretrain_eval",
    "reinitialise",
    "summarise",
]
