"""Anomaly score components and their combination (thesis section 5.4, eq. 5.1).

The thesis scores a query by its reconstruction error and the KL term
(eq. 5.1). Five label-free extensions are available: the critic's value as a
further term (``critic_weight``), the distance to the nearest training
samples in the critic's feature space (``neighbor_weight``, see
:mod:`danogan_sk.memory_bank`), the same per patch of an image, position by
position (``patch_weight``), the distance of the query's latent code to
the nearest training codes of its cluster (``latent_weight``), and dividing
each term by its spread on the training data (``term_spreads``) so that the
weights mean the same on every data set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sklearn.utils import _safe_indexing, gen_batches
from torch import Tensor

from .critic_snapshots import CriticSnapshots
from .memory_bank import MemoryBank
from .nn import DAnoGANNetworks

__all__ = [
    "COMPONENTS",
    "SCORED_TERMS",
    "score_components",
    "neighbor_distance",
    "neighbor_offsets",
    "shifted_images",
    "spread",
    "term_spreads",
    "anomaly_score",
    "in_chunks",
]

#: The per-sample terms :func:`score_components` returns.
COMPONENTS = ("mse", "kl", "feature_mse", "critic", "neighbor", "patch", "latent", "cluster")
#: The components :func:`anomaly_score` combines.
SCORED_TERMS = ("mse", "kl", "critic", "neighbor", "patch", "latent")


@torch.no_grad()
def score_components(
    nets: DAnoGANNetworks,
    x: Tensor,
    bank: MemoryBank | None = None,
    latent_bank: MemoryBank | None = None,
    critics: CriticSnapshots | None = None,
    patches: bool = True,
) -> dict[str, Tensor]:
    """Per-sample anomaly terms of a query batch, in eval mode.

    Parameters
    ----------
    nets : DAnoGANNetworks
        Trained networks (BatchNorm must be in eval mode).
    x : Tensor of shape (n, ...)
        Queries scaled to the generators' [-1, 1] range.
    bank : MemoryBank or None
        Critic features of training samples; without it there is no
        ``neighbor`` term.
    latent_bank : MemoryBank or None
        Latent codes ``E_k(x)`` of training samples, grouped by their
        cluster ``k``; without it there is no ``latent`` term.
    critics : CriticSnapshots or None
        Critics kept at earlier epochs, with their scales; with them the
        ``critic`` term is :meth:`CriticSnapshots.combine` of all critics'
        values.
    patches : bool, default=True
        Whether to compute the ``patch`` term (one more bank search).

    Returns
    -------
    dict of Tensor of shape (n,)
        ``mse``: mean squared error between query and reconstruction;
        ``kl``: ``KL(C(x) || C(x_hat))`` between the classifier's cluster
        distributions of query and reconstruction; ``feature_mse``: mean
        squared error between their critic features ``D_i``; ``cluster``:
        ``critic``: ``-D(x)``, the critic's value of the query negated (the
        critic rates real-looking data high, so a query unlike the training
        data gets a high ``critic``; the same discrimination signal AnoGAN
        adds to its residual); ``neighbor`` (with a ``bank``): distance of
        the query's critic features to the nearest training samples';
        ``patch`` (with a ``bank`` of feature maps): the largest over the
        positions of ``D_i`` of the distance to the nearest training
        sample's values at that position (:meth:`MemoryBank.patch_distance`);
        ``latent`` (with a ``latent_bank``): distance of the query's latent
        code ``E_k(x)`` to the nearest training codes of its cluster ``k``
        (each encoder has a latent space of its own);
        ``cluster``: the cluster the query was routed to.
    """
    rec = nets.reconstruct(x)
    features_rec = nets.critic.features(rec.reconstruction)  # the critic's value of it is not used
    log_q = torch.log_softmax(rec.logits, dim=1)
    log_r = torch.log_softmax(nets.classifier(features_rec), dim=1)
    components = {
        "mse": (x - rec.reconstruction).pow(2).flatten(1).mean(1),
        "kl": (log_q.exp() * (log_q - log_r)).sum(1),
        "feature_mse": (rec.features - features_rec).pow(2).flatten(1).mean(1),
    }
    own_value = -nets.critic.value_from_features(rec.features)
    components["critic"] = own_value if critics is None else critics.combine(critics.values(x), own_value)
    if bank is not None:
        components["neighbor"], own = _neighbor_distance_and_own_rows(nets, x, rec.features, bank)
        if patches and bank.map_shape is not None:
            components["patch"] = bank.patch_distance(rec.features, exclude=own)
    if latent_bank is not None:
        components["latent"] = latent_bank.distance(rec.latent, groups=rec.cluster)
    components["cluster"] = rec.cluster
    return components


@torch.no_grad()
def neighbor_distance(nets: DAnoGANNetworks, x: Tensor, features: Tensor, bank: MemoryBank) -> Tensor:
    """The ``neighbor`` term: distance of the queries' critic features to the bank, the
    smallest over the images and their copies moved by the bank's ``shifts``.

    Parameters
    ----------
    nets : DAnoGANNetworks
        Trained networks, whose critic reads the moved copies.
    x : Tensor of shape (n, ...)
        Queries scaled to [-1, 1]; tabular rows (2-D) are never moved.
    features : Tensor of shape (n, ...)
        The critic features ``D_i`` of ``x``.
    bank : MemoryBank
        Critic features of training samples.

    Returns
    -------
    Tensor of shape (n,)
    """
    return _neighbor_distance_and_own_rows(nets, x, features, bank)[0]


def _neighbor_distance_and_own_rows(nets: DAnoGANNetworks, x: Tensor, features: Tensor,
                                    bank: MemoryBank) -> tuple[Tensor, Tensor]:
    """:func:`neighbor_distance`, and the bank row each query is (-1: none)."""
    distance, own = bank.distance_and_own_rows(features)
    if not bank.shifts or x.dim() != 4:
        return distance, own
    # A training sample's moved copy no longer matches its own bank row exactly, so that
    # row is left out by index: the training data keeps the distances of unseen data.
    for rows, columns in bank.shifts:
        moved = nets.critic.features(shifted_images(x, rows, columns, fill=-1.0))
        distance = torch.minimum(distance, bank.distance(moved, exclude=own))
    return distance, own


def neighbor_offsets(radius: int) -> tuple[tuple[int, int], ...]:
    """Every ``(rows, columns)`` move of at most ``radius`` pixels in all
    (``|rows| + |columns| <= radius``), but ``(0, 0)``.

    Examples
    --------
    >>> neighbor_offsets(1)
    ((-1, 0), (0, -1), (0, 1), (1, 0))
    >>> len(neighbor_offsets(2)), neighbor_offsets(0)
    (12, ())
    """
    steps = range(-radius, radius + 1)
    return tuple((r, c) for r in steps for c in steps if 0 < abs(r) + abs(c) <= radius)


def shifted_images(x: Tensor, rows: int, columns: int, fill: float) -> Tensor:
    """Images ``x`` of shape (..., H, W) moved ``rows`` down and ``columns`` right; the
    uncovered border takes the value ``fill``.

    Examples
    --------
    >>> shifted_images(torch.arange(6.0).reshape(1, 1, 2, 3), 0, 1, fill=-1.0)
    tensor([[[[-1.,  0.,  1.],
              [-1.,  3.,  4.]]]])
    """
    height, width = x.shape[-2:]
    out = torch.full_like(x, fill)
    if abs(rows) >= height or abs(columns) >= width:
        return out  # moved out of view
    target = (slice(max(rows, 0), height + min(rows, 0)), slice(max(columns, 0), width + min(columns, 0)))
    source = (slice(max(-rows, 0), height + min(-rows, 0)), slice(max(-columns, 0), width + min(-columns, 0)))
    out[(..., *target)] = x[(..., *source)]
    return out


def term_spreads(components: dict[str, np.ndarray]) -> dict[str, float]:
    """A positive scale for each scored term: its interquartile range.

    Falls back to the standard deviation, then to 1, when the range is zero
    (a term constant on the reference data). Terms missing from
    ``components`` (``neighbor`` without a memory bank) get no scale.

    Parameters
    ----------
    components : dict of ndarray
        Components of normal reference data (the training set, or a normal
        validation split); no labels are involved.

    Examples
    --------
    >>> term_spreads({"mse": np.arange(5.0), "kl": np.zeros(5), "critic": np.array([0, 0, 0, 0, 5.0])})
    {'mse': 2.0, 'kl': 1.0, 'critic': 2.0}
    """
    return {name: spread(components[name]) for name in SCORED_TERMS if name in components}


def spread(values: np.ndarray) -> float:
    """The interquartile range of ``values``; their standard deviation, or 1, where it is zero.

    Examples
    --------
    >>> spread(np.arange(5.0)), spread(np.array([0, 0, 0, 0, 5.0])), spread(np.zeros(3))
    (2.0, 2.0, 1.0)
    """
    values = np.asarray(values, dtype=np.float64)
    q1, q3 = np.percentile(values, [25, 75])
    for candidate in (q3 - q1, np.std(values)):
        if np.isfinite(candidate) and candidate > 0:
            return float(candidate)
    return 1.0


def anomaly_score(
    components: dict[str, np.ndarray],
    alpha: float,
    critic_weight: float = 0.0,
    spreads: dict[str, float] | None = None,
    neighbor_weight: float = 0.0,
    latent_weight: float = 0.0,
    patch_weight: float = 0.0,
) -> np.ndarray:
    """Eq. 5.1, optionally with the critic, neighbour, latent and patch terms and scaled terms; higher is more anomalous.

    ``A(x) = (1 - c - n - l - p) * ((1 - alpha) * mse + alpha * KL) + c * critic + n * neighbor + l * latent
    + p * patch`` with ``c = critic_weight``, ``n = neighbor_weight``, ``l = latent_weight`` and
    ``p = patch_weight`` (``c + n + l + p <= 1``, as the estimator checks);
    ``c = n = l = p = 0`` and no ``spreads`` is the thesis's eq. 5.1 exactly. With
    ``spreads`` every term is first divided by its spread (see
    :func:`term_spreads`). A term whose weight is 0 is not read.

    Examples
    --------
    >>> anomaly_score({"mse": np.array([1.0, 0.0]), "kl": np.array([0.0, 2.0])}, 0.5)
    array([0.5, 1. ])
    >>> comps = {"mse": np.array([1.0, 0.0]), "kl": np.zeros(2), "critic": np.array([0.0, 4.0])}
    >>> anomaly_score(comps, 0.0, critic_weight=0.5, spreads={"mse": 1.0, "kl": 1.0, "critic": 4.0})
    array([0.5, 0.5])
    >>> anomaly_score({"critic": np.array([1.0, 0.0]), "neighbor": np.array([0.0, 3.0])},
    ...               0.0, critic_weight=0.5, neighbor_weight=0.5)
    array([0.5, 1.5])
    """
    alpha = float(alpha)
    rest = 1.0 - critic_weight - neighbor_weight - latent_weight - patch_weight
    weights = {
        "mse": rest * (1.0 - alpha),
        "kl": rest * alpha,
        "critic": critic_weight,
        "neighbor": neighbor_weight,
        "latent": latent_weight,
        "patch": patch_weight,
    }
    weights = {name: w for name, w in weights.items() if w > 0}
    missing = sorted(set(weights) - set(components))
    if missing:
        raise ValueError(
            f"The score at these weights needs the components {missing}, which are missing "
            f"(the components given: {sorted(components)})."
        )
    n_samples = len(np.asarray(components[next(iter(components))]))
    score = np.zeros(n_samples)
    for name, weight in weights.items():
        term = np.asarray(components[name], dtype=np.float64)
        if spreads is not None:
            term = term / spreads[name]
        score = score + weight * term
    return score


def in_chunks(
    compute: Callable[[Any], Any],
    X: Any,
    chunk_rows: int,
    prepare: Callable[[Any], Any] = lambda chunk: chunk,
    between: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """Yield ``compute(prepare(rows))`` for consecutive chunks of ``chunk_rows`` rows of ``X``, without autograd.

    Scoring a large set chunk by chunk bounds the memory of the networks'
    activations. ``X`` is anything scikit-learn's ``_safe_indexing`` reads
    (arrays, memory maps, data frames, tensors); ``prepare`` turns a chunk
    into network input; ``between`` runs between two chunks.

    Examples
    --------
    >>> [float(total) for total in in_chunks(torch.sum, torch.ones(5, 2), 2)]
    [4.0, 4.0, 2.0]
    """
    n_samples = X.shape[0]
    with torch.no_grad():
        for rows in gen_batches(n_samples, chunk_rows):
            yield compute(prepare(_safe_indexing(X, rows)))
            if between is not None and chunk_rows < n_samples:
                between()
