"""Retrieval and semantic hashing: nearest neighbours of images in the code space of a model.

The code of an image is z = encode(x), (N, d) (``genzoo.latent.latent_codes``): an autoencoder's
code, a VAE's posterior mean mu(x). Neighbours are ranked by cosine distance 1 - z.z'/(|z||z'|),
by Euclidean distance |z - z'| ("l2"), or, for binary codes b in {0, 1}^d, by Hamming distance
sum_j [b_j != b'_j] (semantic hashing, Salakhutdinov & Hinton 2009: similar images get codes a few
bit flips apart). Bits come from thresholding the codes: at 0.5 for a model trained to produce
near-binary codes (``model.code_threshold``, e.g. ``ae --code sigmoid-noise``), otherwise at the
per-dimension median of the database codes (each bit then splits the database in half).

Search: ``sklearn.neighbors.NearestNeighbors`` (brute force, exact, Euclidean) for l2, and for
cosine on unit vectors (|a - b|^2 = 2 - 2 cos(a, b): the same ranking; sklearn's own "cosine"
metric takes a path ~10x slower here). For Hamming, bits packed 64 to a word and compared with XOR +
``np.bitwise_count`` (popcount): exact integer distances in 1/8 of the memory of sklearn's
"hamming" metric (one float per bit), ranked by a stable radix sort of the 16-bit distances, so
ties go by database index. Scores, with a neighbour relevant when its label equals the
query's:

- precision@k = |{relevant among the k nearest}| / k, per query;
- average precision AP = (1/R) sum_{r: item at rank r relevant} precision@r over the full ranking
  of the database (R relevant items; AP = 0 when R = 0), mAP = the mean of AP over the queries.

Baselines of the same length: raw pixels, PCA (``sklearn.decomposition.PCA``), PCA + median
threshold ("PCA hashing") and random-projection LSH (sign of random Gaussian projections of the
centred data; Charikar 2002). Class-conditional models (cvae) are refused: their code is meant to
leave the class out (it is given as a label), so neighbours by code share style, not class.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from genzoo import conditional, latent, progress
from genzoo.errors import ConfigError, GenzooError
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

Metric = Literal["cosine", "l2", "hamming"]
METRICS: tuple[str, ...] = ("cosine", "l2", "hamming")


# ----------------------------------------------------------------------------------------- codes
def check_can_retrieve(model: object) -> None:
    """A GenzooError unless the model can encode (duck-typed) and is not class-conditional."""
    latent.check_can_encode(model, "retrieval")
    if conditional.is_conditional(model):
        kind = latent.model_kind(model)
        raise GenzooError(
            f"{kind} is class-conditional: its code leaves out the class (given as a label), so "
            "retrieval by code does not apply; use an unconditional model that can encode "
            f"({', '.join(caps.families_with(Capability.ENCODER, without=Capability.CONDITIONAL))})"
        )


@torch.no_grad()
def codes(model: Any, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """z = encode(x) of images x (N, *shape) with the model in eval mode: (N, d) float, on the CPU."""
    check_can_retrieve(model)
    return latent.latent_codes(model, x, batch=batch).float()  # eval mode: no training noise


def code_thresholds(model: object, db_codes: torch.Tensor) -> torch.Tensor:
    """Per-dimension thresholds t (d,) that turn codes into bits b = z > t: the model's own
    ``code_threshold`` (0.5 for a near-binary code) if it has one, else the median of the
    database codes db_codes (N, d)."""
    t = model.code_threshold if latent.can_encode(model) else None  # Encoder contract
    if t is not None:
        return torch.full((db_codes.shape[1],), float(t))
    return db_codes.median(0).values


def binarize(z: torch.Tensor, thresholds: torch.Tensor | float) -> torch.Tensor:
    """Bits b = z > t: z (N, d), t (d,) or a number -> (N, d) bool."""
    return z > torch.as_tensor(thresholds, dtype=z.dtype)


def binary_codes(model: Any, x: torch.Tensor, thresholds: torch.Tensor | None = None) -> torch.Tensor:
    """Bits (N, d) bool of images x: encode(x) > t, t from ``code_thresholds`` on x's own codes
    unless given (pass the database's thresholds when coding queries)."""
    z = codes(model, x)
    return binarize(z, code_thresholds(model, z) if thresholds is None else thresholds)


# ------------------------------------------------------------------------------------- baselines
def pixel_codes(x: torch.Tensor) -> torch.Tensor:
    """The raw-pixel baseline: x (N, *shape) flattened, (N, prod(shape))."""
    return x.reshape(x.shape[0], -1).float()


def pca_codes(train_x: torch.Tensor, x: torch.Tensor, d: int, seed: int = 0) -> torch.Tensor:
    """x (N, *shape) projected on the first d principal components of train_x (M, *shape):
    (N, d) (``sklearn.decomposition.PCA`` with the exact covariance eigensolver, fitted on train_x)."""
    return _pca(train_x, d, seed)(x)


def _pca(train_x: torch.Tensor, d: int, seed: int):
    from sklearn.decomposition import PCA

    flat = pixel_codes(train_x).numpy()
    if not 1 <= d <= min(flat.shape):
        raise ConfigError(f"PCA needs 1 <= d <= {min(flat.shape)} (images and pixels), got {d}")
    pca = PCA(d, svd_solver="covariance_eigh", random_state=seed).fit(flat)
    return lambda x: torch.from_numpy(pca.transform(pixel_codes(x).numpy())).float()


def pca_hash(train_x: torch.Tensor, x: torch.Tensor, bits: int, seed: int = 0) -> torch.Tensor:
    """PCA hashing: the first ``bits`` PCA coordinates of x thresholded at their training medians:
    (N, bits) bool."""
    project = _pca(train_x, bits, seed)
    return binarize(project(x), project(train_x).median(0).values)


def lsh_hash(train_x: torch.Tensor, x: torch.Tensor, bits: int, seed: int = 0) -> torch.Tensor:
    """Random-projection LSH (Charikar 2002): b = W (x - mean) > 0 with W (bits, D) ~ N(0, 1),
    the training mean; P(bit differs) = angle(x, x') / pi. (N, bits) bool."""
    if bits < 1:
        raise ConfigError(f"LSH needs at least 1 bit, got {bits}")
    mean = pixel_codes(train_x).mean(0)  # (D,)
    w = torch.randn(mean.shape[0], bits, generator=torch.Generator().manual_seed(seed))  # (D, bits)
    return (pixel_codes(x) - mean) @ w > 0


# ---------------------------------------------------------------------------------------- search
def _check(db: torch.Tensor, queries: torch.Tensor, metric: str, k: int | None = None) -> None:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose {', '.join(METRICS)}")
    if db.dim() != 2 or queries.dim() != 2 or db.shape[1] != queries.shape[1]:
        raise ConfigError(
            f"codes must be (N, d) and (Q, d) with the same d, got {tuple(db.shape)} and {tuple(queries.shape)}"
        )
    if len(db) == 0:
        raise ConfigError("the database is empty")
    if k is not None and not 1 <= k <= len(db):
        raise ConfigError(f"k must be between 1 and the database size {len(db)}, got {k}")
    if metric == "hamming":
        for t in (db, queries):
            if t.dtype != torch.bool and not bool(((t == 0) | (t == 1)).all()):
                raise ConfigError("hamming distance needs binary codes (bool or 0/1); binarize them first")
        if db.shape[1] > 65_535:
            raise ConfigError(f"hamming search handles up to 65,535 bits, got {db.shape[1]}")


def pack_bits(bits: torch.Tensor) -> np.ndarray:
    """Bits (N, d) bool -> (N, ceil(d / 64)) uint64, 64 bits per word (zero-padded)."""
    b = np.packbits(bits.bool().numpy(), axis=1)  # (N, ceil(d / 8)) uint8
    pad = (-b.shape[1]) % 8
    return np.ascontiguousarray(np.pad(b, ((0, 0), (0, pad)))).view(np.uint64)


def hamming_distances(q_words: np.ndarray, db_words: np.ndarray) -> np.ndarray:
    """Hamming distances of packed codes: popcount(q XOR db) summed over words, (Q, N) uint16
    (exact up to 65,535 bits)."""
    out = np.zeros((q_words.shape[0], db_words.shape[0]), dtype=np.uint16)
    for w in range(q_words.shape[1]):
        out += np.bitwise_count(q_words[:, w, None] ^ db_words[None, :, w])
    return out


def _chunk(n: int, chunk: int | None) -> int:
    """Queries per chunk: (chunk, n) distances of ~2e6 entries unless given."""
    return chunk or max(1, 2_000_000 // n)


def _hamming_rankings(db: torch.Tensor, queries: torch.Tensor, chunk: int):
    """(distances (C, N) uint16, order (C, N)) per chunk of queries: the whole database ranked by
    Hamming distance, equal distances in database order (a stable radix sort of 16-bit keys)."""
    dbw, qw = pack_bits(db), pack_bits(queries)
    for i in range(0, len(qw), chunk):
        d = hamming_distances(qw[i : i + chunk], dbw)
        yield d, np.argsort(d, axis=1, kind="stable")


def search(
    db: torch.Tensor, queries: torch.Tensor, k: int = 10, metric: Metric = "cosine"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest database items of each query: db (N, d), queries (Q, d) -> (distances (Q, k),
    indices (Q, k) long into db), nearest first.

    cosine and l2: ``sklearn.neighbors.NearestNeighbors`` (brute force, exact, Euclidean); cosine
    as Euclidean on unit vectors, |a - b|^2 = 2 - 2 cos(a, b), the same ranking (sklearn's own
    "cosine" metric takes a slower path, ~10x on MNIST-sized searches), distance 1 - cos =
    |a - b|^2 / 2. hamming: bool codes packed 64 bits a word, XOR + popcount, ties by database index."""
    _check(db, queries, metric, k)
    if metric == "hamming":
        dist, idx = [], []
        for d, order in _hamming_rankings(db, queries, _chunk(len(db), None)):
            idx.append(order[:, :k])
            dist.append(np.take_along_axis(d, order[:, :k], 1))
        return torch.from_numpy(np.concatenate(dist).astype(np.float32)), torch.from_numpy(
            np.concatenate(idx)
        )
    from sklearn.neighbors import NearestNeighbors

    db, queries = db.float(), queries.float()
    if metric == "cosine":
        db, queries = F.normalize(db, dim=1), F.normalize(queries, dim=1)
    nn_ = NearestNeighbors(n_neighbors=k, metric="euclidean", algorithm="brute")
    dist, idx = nn_.fit(db.numpy()).kneighbors(queries.numpy())
    dist = torch.from_numpy(dist).float()
    return (dist.square() / 2 if metric == "cosine" else dist), torch.from_numpy(idx).long()


def _distances(q: torch.Tensor, db: torch.Tensor, metric: str) -> torch.Tensor:
    """(Q, N) float distances for the full ranking: 1 - cos(q, db) or |q - db|."""
    if metric == "cosine":
        return 1 - F.normalize(q, dim=1) @ F.normalize(db, dim=1).T
    return torch.cdist(q, db)


def rankings(db: torch.Tensor, queries: torch.Tensor, metric: Metric = "cosine", chunk: int | None = None):
    """The whole database ranked for each query, nearest first, equal distances in database order
    (stable sorts): yields (C, N) long index tensors for chunks of C queries, so memory stays bounded."""
    _check(db, queries, metric)
    c = _chunk(len(db), chunk)
    if metric == "hamming":
        for _, order in _hamming_rankings(db, queries, c):
            yield torch.from_numpy(order.astype(np.int64))
        return
    db, queries = db.float(), queries.float()
    for i in range(0, len(queries), c):
        yield torch.sort(_distances(queries[i : i + c], db, metric), dim=1, stable=True).indices


# --------------------------------------------------------------------------------------- scoring
def precision_at_k(idx: torch.Tensor, db_labels: torch.Tensor, q_labels: torch.Tensor) -> torch.Tensor:
    """precision@k per query: the share of its k neighbours idx (Q, k) whose label db_labels[idx]
    equals the query's q_labels (Q,): (Q,) float."""
    return (db_labels[idx] == q_labels[:, None]).float().mean(1)


@torch.no_grad()
def average_precision(
    db: torch.Tensor,
    db_labels: torch.Tensor,
    queries: torch.Tensor,
    q_labels: torch.Tensor,
    metric: Metric = "cosine",
    chunk: int | None = None,
) -> torch.Tensor:
    """AP of each query over the full ranking of the database (exact; equal distances ranked by
    database index, a stable sort): AP = (1/R) sum_r rel_r * precision@r, R = sum_r rel_r
    (0 when R = 0). db (N, d), queries (Q, d), labels (N,) and (Q,) -> (Q,) float64. Queries go
    in chunks of (chunk, N) so memory stays bounded (default: ~2e6 distances per chunk)."""
    n = len(db)
    ranks = torch.arange(1, n + 1, dtype=torch.float64)  # (N,)
    out, i = [], 0
    ranked = rankings(db, queries, metric, chunk)
    for order in progress.track(ranked, len(queries), "ranking the database", "queries", size=len):  # (C, N)
        rel = db_labels[order] == q_labels[i : i + len(order), None]  # (C, N) bool, in rank order
        hits = rel.cumsum(1, dtype=torch.float64)  # relevant items within the first r
        r = hits[:, -1]
        ap = (hits / ranks * rel).sum(1) / r.clamp(min=1)
        out.append(torch.where(r > 0, ap, torch.zeros_like(ap)))
        i += len(order)
    return torch.cat(out)


def mean_average_precision(
    db: torch.Tensor,
    db_labels: torch.Tensor,
    queries: torch.Tensor,
    q_labels: torch.Tensor,
    metric: Metric = "cosine",
) -> float:
    """mAP: the mean over the queries of ``average_precision``."""
    return float(average_precision(db, db_labels, queries, q_labels, metric).mean())


def query_time(
    db: torch.Tensor, queries: torch.Tensor, metric: Metric = "cosine", k: int = 10, repeats: int = 3
) -> float:
    """Seconds that ``search`` takes per query per 10,000 database items (best of ``repeats``):
    t(Q queries against N items) * 10,000 / (Q N)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        search(db, queries, k, metric)
        best = min(best, time.perf_counter() - t0)
    return best * 10_000 / (len(queries) * len(db))


# --------------------------------------------------------------------------------- the command
@dataclass
class Retrieval:
    """Neighbours of the queries: indices (Q, k) into the database and distances (Q, k)."""

    indices: torch.Tensor
    distances: torch.Tensor
    metric: str


def database_indices(n: int, exclude: Sequence[int] = (), limit: int | None = None) -> torch.Tensor:
    """Indices 0..n-1 without ``exclude`` (the queries, for a database drawn from their own
    split), the first ``limit`` of them: (M,) long."""
    keep = torch.ones(n, dtype=torch.bool)
    keep[list(exclude)] = False
    idx = keep.nonzero().flatten()
    return idx if limit is None else idx[:limit]


def retrieve(
    model: Any, db_x: torch.Tensor, queries_x: torch.Tensor, k: int = 10, metric: Metric = "cosine"
) -> Retrieval:
    """The k nearest database images db_x (N, *shape) of each query image (Q, *shape) in the
    model's code space; for "hamming" the codes are bits (``code_thresholds`` of the database)."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose {', '.join(METRICS)}")
    if not 1 <= k <= len(db_x):
        raise ConfigError(f"k must be between 1 and the database size {len(db_x)}, got {k}")
    zdb, zq = codes(model, db_x), codes(model, queries_x)  # (N, d), (Q, d)
    if metric == "hamming":
        t = code_thresholds(model, zdb)
        zdb, zq = binarize(zdb, t), binarize(zq, t)
    dist, idx = search(zdb, zq, k, metric)
    return Retrieval(idx, dist, metric)


def neighbour_rows(queries_x: torch.Tensor, db_x: torch.Tensor, idx: torch.Tensor) -> list[torch.Tensor]:
    """One row per query for ``genzoo.viz.save_grid``: the query, then its k neighbours, (1 + k, *shape)."""
    return [torch.cat([q[None], db_x[i]]) for q, i in zip(queries_x, idx, strict=True)]
