"""Anomaly and out-of-distribution detection: a model trained on normal data scores new data.

The score s(x) is larger for a more anomalous x:

- ``recon``: the reconstruction error ||x - reconstruct(x)||^2 / D, the mean over the D elements
  (any model that can encode and decode: ae, dae, deep-ae, the VAEs' posterior-mean decoding);
- ``elbo``: -ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || p(z)), nats, one z ~ q(z|x) (the VAEs);
- ``likelihood``: -log p(x), nats, by the model's ``log_likelihood``: the IWAE bound with k samples
  for a VAE, the variational bound for a diffusion model, the exact value for a flow.

``auto`` picks ``likelihood`` when the model has one, else ``recon``. The protocol of the one-class
literature: train on one class ("normal"), score the test split, and report the AUROC and AUPRC
with the anomalies as the positive class (scikit-learn's ``roc_auc_score`` and
``average_precision_score``), overall and per anomalous class. For out-of-distribution data the
positives are the other dataset's test images; an AUROC below 0.5 means the model rates the
foreign data as *more* likely than its own (Nalisnick et al. 2019, "Do deep generative models know
what they don't know?").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch

from genzoo import conditional, progress
from genzoo.errors import ConfigError, GenzooError
from genzoo.eval.likelihood import per_example_nll
from genzoo.latent import evaluating, model_device, model_kind
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

Score = Literal["auto", "recon", "elbo", "likelihood"]
SCORES: tuple[str, ...] = ("auto", "recon", "elbo", "likelihood")


def resolve_score(model: object, score: str) -> str:
    """The score ``auto`` stands for with this model, or a GenzooError if the model lacks it."""
    if score not in SCORES:
        raise ConfigError(f"unknown score {score!r}; choose {', '.join(SCORES)}")
    can = {
        "recon": caps.has(model, Capability.ENCODER),
        "elbo": caps.has(model, Capability.VARIATIONAL),
        "likelihood": caps.has(model, Capability.LIKELIHOOD),
    }
    able = [s for s, ok in can.items() if ok]
    if not able:
        raise GenzooError(
            f"{model_kind(model)} cannot score data: it has no reconstruction and no likelihood (anomaly "
            f"detection needs one of {', '.join(sorted(set(caps.families_with(Capability.ENCODER)) | set(caps.families_with(Capability.LIKELIHOOD))))})"
        )
    if score == "auto":
        return "likelihood" if can["likelihood"] else "recon"
    if not can[score]:
        raise GenzooError(f"{model_kind(model)} has no {score} score; it has: {', '.join(able)}")
    return score


@torch.no_grad()
def anomaly_scores(
    model: Any, x: torch.Tensor, score: str = "auto", *, k: int = 10, batch: int = 500, seed: int = 0
) -> torch.Tensor:
    """Anomaly scores of x (N, *shape): (N,) float64 on the CPU, larger = more anomalous (see the
    module docstring for the kinds); ``k`` importance samples for an IWAE bound, ``seed`` fixes
    every random draw so that the scores are reproducible."""
    score = resolve_score(model, score)
    if tuple(x.shape[1:]) != tuple(model.shape):
        raise GenzooError(
            f"the data have shape {tuple(x.shape[1:])} but the model's are {tuple(model.shape)}"
        )
    g = torch.Generator().manual_seed(seed)
    dev = model_device(model)
    with evaluating(model):
        if score == "likelihood":
            nll, _ = per_example_nll(
                model, x.to(dev), batch, k=k, generator=g, desc="anomaly scores", hint="-n to score fewer"
            )
            out = nll
        else:
            parts = []
            what = f"{score} anomaly scores of {len(x):,} images"
            for xb in progress.track(
                x.split(batch), len(x), "anomaly scores", size=len, what=what, hint="-n to score fewer"
            ):
                xb = xb.to(dev)
                if score == "recon":
                    parts.append((model.reconstruct(xb).float() - xb).pow(2).flatten(1).mean(1))
                else:  # -ELBO = recon + KL; a conditional model: with its inferred labels
                    y = model.infer_labels(xb) if conditional.is_conditional(model) else None
                    t = model.elbo_terms(xb, y, generator=g)
                    parts.append(t["recon"] + t["kl"])
            out = torch.cat(parts)
    out = out.detach().double().cpu()
    if not torch.isfinite(out).all():
        raise GenzooError(
            f"{model_kind(model)} gave non-finite {score} scores (NaN or inf): is the checkpoint sound?"
        )
    return out


def auroc_auprc(scores: torch.Tensor, positive: torch.Tensor) -> tuple[float, float]:
    """(AUROC, AUPRC) of scores (N,) against a boolean (N,) of the positives (the anomalies)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    pos = positive.bool()
    if pos.all() or not pos.any():
        raise GenzooError("AUROC needs both normal and anomalous examples; this selection has one kind only")
    s, p = scores.numpy(), pos.numpy()
    return float(roc_auc_score(p, s)), float(average_precision_score(p, s))


def one_class_report(
    scores: torch.Tensor,
    y: torch.Tensor,
    normal: Sequence[int],
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """AUROC and AUPRC of test scores (N,) with labels y (N,) when the classes ``normal`` are
    normal and every other class anomalous: overall, and for each anomalous class alone against
    the normal test images (``per_class``)."""
    normal = sorted(set(int(c) for c in normal))
    is_normal = torch.isin(y, torch.tensor(normal, dtype=y.dtype))
    k = len(class_names) if class_names else int(y.max()) + 1
    names = list(class_names) if class_names else [str(c) for c in range(k)]
    auroc, auprc = auroc_auprc(scores, ~is_normal)
    per_class = {}
    for c in range(k):
        if c in normal or not (y == c).any():
            continue
        sel = is_normal | (y == c)
        a, p = auroc_auprc(scores[sel], (y[sel] == c))
        per_class[names[c]] = {"auroc": a, "auprc": p, "n": int((y == c).sum())}
    return {
        "normal": [names[c] for c in normal],
        "auroc": auroc,
        "auprc": auprc,
        "n_normal": int(is_normal.sum()),
        "n_anomalous": int((~is_normal).sum()),
        "per_class": per_class,
    }


def ood_report(scores_in: torch.Tensor, scores_out: torch.Tensor) -> dict[str, Any]:
    """In-distribution test scores against another dataset's (the positives): AUROC, AUPRC, the
    mean score of each, and the share of foreign examples scored *less* anomalous than the median
    in-distribution example (0.5 would be a coin; near 1 means the model prefers the foreign data)."""
    scores = torch.cat([scores_in, scores_out])
    positive = torch.cat([torch.zeros(len(scores_in)), torch.ones(len(scores_out))]).bool()
    auroc, auprc = auroc_auprc(scores, positive)
    return {
        "auroc": auroc,
        "auprc": auprc,
        "mean_in": float(scores_in.mean()),
        "mean_out": float(scores_out.mean()),
        "out_below_median_in": float((scores_out < scores_in.median()).double().mean()),
        "n_in": len(scores_in),
        "n_out": len(scores_out),
    }


def extremes(scores: torch.Tensor, n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the n most anomalous (highest score first) and n least anomalous examples."""
    order = torch.argsort(scores, descending=True, stable=True)
    n = min(n, len(scores))
    return order[:n], order.flip(0)[:n]
