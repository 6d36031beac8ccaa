"""The generative classifier: Bayes' rule on a class-conditional model's likelihoods.

    p(y | x) = p(x | y) p(y) / sum_c p(x | c) p(c)

with log p(x | y) from the model's bound for each class c: the IWAE bound with k importance
samples (``bound="iwae"``; k = 1 is a one-sample ELBO estimate), or the ELBO with its KL term in
closed form (``bound="elbo"``, one z per example); p(y) is the training split's class frequency
(uniform if not given). Beside it, a small discriminative classifier (``genzoo.apps.classifier``)
trained on the same images and labels; both are scored on clean test images and under corruption:
``gaussian:S`` / ``saltpepper:P`` noise (``genzoo.data.corrupt``) or ``occlude:center|left`` (the
hidden pixels set to 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from genzoo import conditional, progress
from genzoo.apps.classifier import accuracy, train_classifier
from genzoo.apps.inpaint import make_mask
from genzoo.data.corrupt import apply_noise
from genzoo.errors import ConfigError, GenzooError
from genzoo.latent import evaluating, model_device, model_kind
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

Bound = Literal["iwae", "elbo"]
CORRUPTIONS = ("clean", "gaussian:0.3", "saltpepper:0.2", "occlude:left", "occlude:center")


def check_classifiable(model: object) -> None:
    """A GenzooError unless the model is class-conditional with a likelihood bound given y."""
    kind = model_kind(model)
    able = caps.families_with(Capability.CONDITIONAL, Capability.VARIATIONAL)
    if not conditional.is_conditional(model):
        raise GenzooError(
            f"{kind} is not class-conditional, so it has no p(x|y); the generative classifier needs a "
            f"class-conditional model with a likelihood bound ({', '.join(able)})"
        )
    if not caps.has(model, Capability.VARIATIONAL):
        raise GenzooError(f"{kind} has no likelihood bound to classify with ({', '.join(able)} have)")


@torch.no_grad()
def class_log_likelihoods(
    model: Any, x: torch.Tensor, *, bound: Bound = "iwae", k: int = 10, batch: int = 500, seed: int = 0
) -> torch.Tensor:
    """log p(x | y = c) for every class c, (N, K) nats, by the chosen bound (seeded draws)."""
    check_classifiable(model)
    if bound not in ("iwae", "elbo"):
        raise ConfigError(f"unknown bound {bound!r}; choose iwae or elbo")
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    dev = model_device(model)
    cols = []
    how = f"the IWAE bound (k={k})" if bound == "iwae" else "the ELBO"
    what = f"log p(x|y) by {how} for {model.num_classes} classes of {len(x):,} images"
    with (
        evaluating(model),
        progress.task(
            model.num_classes * len(x), "class bounds", "images", what=what, hint="-n to score fewer"
        ) as bar,
    ):
        for c in range(model.num_classes):
            g = torch.Generator().manual_seed(seed)  # the same draws for every class: a paired comparison
            rows = []
            for xb in x.split(batch):
                xb = xb.to(dev)
                y = torch.full((xb.shape[0],), c, dtype=torch.long, device=dev)
                if bound == "elbo":
                    t = model.elbo_terms(xb, y, generator=g)
                    rows.append(-(t["recon"] + t["kl"]))
                else:
                    rows.append(model.log_likelihood(xb, k=k, y=y, generator=g))
                bar.update(len(xb))
            cols.append(torch.cat(rows).double().cpu())
    return torch.stack(cols, 1)


def class_posterior(log_lik: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
    """log p(y | x) = log p(x|y) + log p(y) - logsumexp_c [log p(x|c) + log p(c)], (N, K)."""
    k = log_lik.shape[1]
    log_prior = torch.full((k,), -math.log(k), dtype=log_lik.dtype) if prior is None else prior.log()
    joint = log_lik + log_prior.to(log_lik.dtype)
    return joint - torch.logsumexp(joint, 1, keepdim=True)


def class_prior(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """p(y) as the class frequencies of labels y (N,), each class at least one count (K,)."""
    counts = torch.bincount(y, minlength=num_classes).double().clamp(min=1)
    return counts / counts.sum()


def corrupt(x: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """x (N, C, H, W) in [0, 1] under ``kind``: clean, gaussian:S, saltpepper:P, mask:P (genzoo's
    noise specs), or occlude:center|left (those pixels set to 0)."""
    if kind == "clean":
        return x.clone()
    if kind.startswith("occlude:"):
        if x.dim() != 4:
            raise GenzooError("occlusion applies to images")
        side = kind.split(":", 1)[1]
        if side not in ("center", "left"):
            raise ConfigError(f"unknown occlusion {kind!r}; use occlude:center or occlude:left")
        return x * make_mask(side, tuple(x.shape[-2:]))
    return apply_noise(x, kind, generator=torch.Generator().manual_seed(seed))


def check_corruptions(kinds: Sequence[str]) -> None:
    """A ConfigError naming the first unknown corruption (before any work is done)."""
    probe = torch.zeros(1, 1, 4, 4)
    for kind in kinds:
        try:
            corrupt(probe, kind)
        except (ConfigError, GenzooError) as e:
            raise ConfigError(f"--corruptions: {e}") from None


def compare_classifiers(
    model: Any,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    corruptions: Sequence[str] = CORRUPTIONS,
    bound: Bound = "iwae",
    k: int = 10,
    steps: int = 2000,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Test accuracy of the generative (Bayes) classifier and of a SmallClassifier trained for
    ``steps`` on (train_x, train_y), on clean and corrupted test images: {corruption: {"generative":
    acc, "discriminative": acc}}, plus the settings."""
    check_classifiable(model)
    check_corruptions(corruptions)
    if test_y.max() >= model.num_classes or train_y.max() >= model.num_classes:
        raise GenzooError(f"the labels exceed the model's {model.num_classes} classes")
    prior = class_prior(train_y, model.num_classes)
    disc = train_classifier(train_x, train_y, model.num_classes, steps=steps, seed=seed)
    results: dict[str, Any] = {}
    for kind in corruptions:
        xc = corrupt(test_x, kind, seed)
        post = class_posterior(class_log_likelihoods(model, xc, bound=bound, k=k, seed=seed), prior)
        results[kind] = {
            "generative": float((post.argmax(1) == test_y).double().mean()),
            "discriminative": accuracy(disc, xc, test_y),
        }
        if log is not None:
            r = results[kind]
            log(
                f"{kind + ' images':>23}: accuracy generative (Bayes on the {model.model_type} {bound} bound) "
                f"{100 * r['generative']:.1f}%, discriminative CNN {100 * r['discriminative']:.1f}%"
            )
    return {
        "bound": bound,
        "k": k if bound == "iwae" else None,
        "n_train": len(train_x),
        "n_test": len(test_x),
        "classifier_steps": steps,
        "accuracy": results,
    }
