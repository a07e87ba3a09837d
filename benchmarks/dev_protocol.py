"""Development protocol: choose the detector's defaults without touching the benchmark's test data.

The thesis protocol for held-out classes, on the *training file* only (the
benchmark tables of ``danogan bench`` use the test file). The split seed is
fixed (``--split-seed``); for each held-out class and each detector seed
(``--seeds``, at least two) one detector is fitted on ``--n-train`` images of
the other classes and scored on ``--n-eval`` held-out rows (normal images of
the other classes plus the anomalous class), with the raw-pixel 1-NN on the
same split as the yardstick. Each fit's score components, of the training
images and of the evaluation rows, are saved (``--out`` folder, one ``.npz``
per fit, and ``runs.jsonl``), so that every label-free combination below is
computed from them without refitting:

* ``eq. 5.1``: the thesis's score, alpha = 0.9, unscaled;
* single terms (``mse``, ``critic``, ``feature_mse``: the critic features' squared
  error between a query and its reconstruction) and the previous default
  (``mse + critic``, each divided by its interquartile range on the
  training images);
* ``neighbor[bank]``: distance of the critic features ``D_i`` to the
  nearest bank rows, for each bank setting of :data:`BANKS` (metric,
  neighbours, pooling, rows, sampling) and for the other critic layers of
  :data:`LAYER_BANKS`, for banks that also hold the training images
  shifted by a pixel (:data:`SHIFT_BANKS`) and for queries compared also
  shifted, as the library's ``neighbor_shift`` does (:data:`SHIFT_QUERIES`),
  alone and combined with the
  critic and the pixel error at the weights of :data:`WEIGHTS`, each term
  scaled as above. ``--bank-groups`` limits which of these a run computes
  (the library's own terms always are); ``--weights`` replaces :data:`WEIGHTS`
  with any list of (critic, neighbour) weights, computed from the saved fits;
* ``codes`` (``--bank-groups codes``): the distance of a query's latent code
  ``E_k(x)`` to the nearest training code of its cluster, and the entropy of
  the classifier's cluster distribution, alone and added to the library's two
  terms at :data:`CODE_WEIGHTS`;
* ``critics`` (``--bank-groups critics``): the neighbour term read from the
  features of every kept critic (``critic_snapshots``) and each critic's
  value averaged over the query and its one-pixel moves, combined as
  :data:`EVERY_CRITIC_RULES` says;
* ``turns`` (``--bank-groups turns``): the library's neighbour term with each query
  also turned about the image centre by a few degrees (:data:`TURN_QUERIES`), its
  distance the smallest over itself, its one-pixel moves and its turns, in the
  library's default score (with ``codes``, whose latent term that score needs);
* ``patches`` (``--bank-groups patches``): each position of a query's ``D_i`` map
  compared with the training images' features at the same position, the image
  scored by its largest such distance (:data:`PATCH_TERM`; also with each
  position's distance on that position's training scale, :data:`SCALED_PATCH_TERMS`),
  alone, in place of the neighbour term and beside the default score at
  :data:`PATCH_WEIGHTS` and :data:`PATCH_SHARES` (with ``codes``).

With ``--critic-averaging`` each fit also keeps the critic's weights at the end of
its last ten phase-1 epochs, and the default score is computed with the critics of
:data:`AVERAGED_CRITICS` (earlier epochs', and averages of the weights, as the
library's ``critic_average_epochs`` takes) and :data:`CRITIC_ENSEMBLES` (means of
scores).

With ``--budgets 6 12 24`` one detector per (class, seed) is fitted for
6 epochs, then continued (``warm_start``) to 12 and 24, and every budget's
terms are saved: AUC against CPU minutes from one chain of fits. A later
budget's CPU time is the sum of the chain's fits so far.

The Wheel presets (``--dataset wheel-inspection``, ``wheel``) have no training
file: the protocol draws the preset afresh from ``--split-seed``, a draw that
``danogan bench`` (whose images come from its run seeds 0, 1, 2, ...) never
makes, and fits once per detector seed on its normal manifolds (80 %, as the
benchmark splits them); each anomaly counts as one class of the summary,
tested against the draw's held-out normal images (``--n-train`` and
``--n-eval`` do not apply).

Training rows that are in a bank are scored by their *other* bank rows
(the library's rule), so their terms are those of unseen normal data.
Fits are timed in CPU seconds of this process (one thread by default), so
runs in parallel with other work time the same; the wall-clock seconds are
recorded beside them (``fit_wall_s``), the measure when the detector trains
on a GPU. The summary prints, per
budget and variant, the mean AUC over the classes per seed, their mean and
the spread between seeds (max - min), and the mean fit CPU minutes.

    python benchmarks/dev_protocol.py --dataset mnist --out dev/mnist
    python benchmarks/dev_protocol.py --dataset mnist --out dev/mnist --summary
    python benchmarks/dev_protocol.py --dataset mnist --out dev/chain --budgets 6 12 24
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from torch import Tensor

from danogan_sk import DAnoGANDetector
from danogan_sk import estimator as estimator_module
from danogan_sk.benchmark.dagan import phase2_epochs
from danogan_sk.benchmark.data import as_images, load_pool, make_tasks
from danogan_sk.benchmark.methods import RawPixelNN
from danogan_sk.datasets import leave_one_class_out, load_dataset
from danogan_sk.datasets.wheel_benchmarks import WHEEL_BENCHMARKS
from danogan_sk.hooks import EpochHook
from danogan_sk.memory_bank import MemoryBank, bank_rows, feature_vectors, map_shape
from danogan_sk.scoring import anomaly_score, shifted_images, spread, term_spreads

#: Memory-bank settings compared: name -> (metric, n_neighbors, pool, rows, sampling).
BANKS = {
    "cos k1 all": ("cosine", 1, None, None, "random"),
    "euc k1 all": ("euclidean", 1, None, None, "random"),
    "cos k5 all": ("cosine", 5, None, None, "random"),
    "cos k1 pool4 all": ("cosine", 1, 4, None, "random"),
    "cos k1 2000 random": ("cosine", 1, None, 2000, "random"),
    "cos k1 2000 coreset": ("cosine", 1, None, 2000, "coreset"),
    "euc k1 2000 coreset": ("euclidean", 1, None, 2000, "coreset"),
    "cos k1 500 coreset": ("cosine", 1, None, 500, "coreset"),
}
#: Banks of other critic layers (euclidean, one neighbour, every training image):
#: name -> indices of the critic's convolutions whose activations are concatenated,
#: each layer's block divided by its root-mean-square norm on the training images
#: so that every layer weighs alike. ``D_i`` is the last but one (index 1 at 28 x 28).
LAYER_BANKS = {
    "euc k1 all layer 1": (0,),
    "euc k1 all layer 3": (2,),
    "euc k1 all layers 2+3": (1, 2),
    "euc k1 all layers 1+2+3": (0, 1, 2),
}
#: ``D_i`` banks scored otherwise (:func:`_relative_distance_terms`).
EXTRA_BANKS = ("euc k3 all", "euc k1 all relative")
#: ``D_i`` banks (euclidean, one neighbour) that also hold every training image shifted by
#: these (rows, columns) offsets, zero-filled: name -> offsets (:func:`shifted_bank_terms`).
_CROSS = ((-1, 0), (1, 0), (0, -1), (0, 1))
_SQUARE = (*_CROSS, (-1, -1), (-1, 1), (1, -1), (1, 1))
SHIFT_BANKS = {"euc k1 all shift4": _CROSS, "euc k1 all shift8": _SQUARE}
#: The same shifts applied to the *queries* instead (the bank keeps one row per training
#: image): a query's distance is the smallest over itself and its shifted copies
#: (:func:`shifted_query_terms`).
SHIFT_QUERIES = {"euc k1 all query shift4": _CROSS, "euc k1 all query shift8": _SQUARE}
#: Groups of banks ``--bank-groups`` chooses from; :data:`DEFAULT_BANK` and
#: :data:`SHIFT_QUERIES` (the library's term at ``neighbor_shift`` 0, 1 and the
#: 3 x 3 square) are always computed.
BANK_GROUPS = ("settings", "layers", "shifts", "codes", "critics", "turns", "patches")
#: The ``turns`` group: queries also turned about the image centre (bilinear, the uncovered
#: corners zero, MNIST's black) beside the library's one-pixel moves, scored as
#: :data:`SHIFT_QUERIES` are (:func:`shifted_query_terms`): name -> the moves (offsets) and
#: turns (``("turn", degrees)``) a query is also compared at. A query's distance is the
#: smallest over itself and these; a training image's copies leave out its own row.
TURN_QUERIES = {
    "query shift4 turn8": (*_CROSS, ("turn", 8), ("turn", -8)),
    "query shift4 turn15": (*_CROSS, ("turn", 15), ("turn", -15)),
    "query shift4 turn8,16": (*_CROSS, ("turn", 8), ("turn", -8), ("turn", 16), ("turn", -16)),
    "query turn8": (("turn", 8), ("turn", -8)),
}
#: The ``patches`` group's term: each position of a query's ``D_i`` map compared with the
#: training images' features at the same position, the image scored by the largest of its
#: positions' smallest distances (:func:`patch_terms`, the library's ``patch`` term).
PATCH_TERM = "patch w0 max"
#: The same with each position's distance first put on that position's scale over the training
#: images (their distances at it, each image's own map left out): divided by the median, or
#: minus the median over the interquartile range (either scale at least a tenth of its mean over
#: the positions); so that positions where normal images vary much (an object's outline) do not
#: decide the largest.
SCALED_PATCH_TERMS = ("patch w0 max /median", "patch w0 max z")
#: Weights of the patch term beside the library's default score (:func:`patch_scores`),
#: each term divided by its spread on the training images.
PATCH_WEIGHTS = (0.15, 0.3, 0.5)
#: (critic, neighbour, latent, patch) weights summing to one: the default + 0.3 patch
#: term's weights divided by 1.3 and rounded, as a detector's weights would be given; and the
#: default's critic and latent weights with 0.35 of the neighbour term's 0.65 given to the patch
#: term (the best such split on MNIST seeds 2 and 3).
PATCH_SHARES = ((0.19, 0.5, 0.08, 0.23), (0.25, 0.3, 0.1, 0.35))
#: Weights of the ``codes`` group's sums (:func:`code_terms`): (critic, neighbour, code term).
CODE_WEIGHTS = ((0.25, 0.65, 0.1), (0.25, 0.5, 0.25), (0.2, 0.6, 0.2), (0.25, 0.375, 0.375),
                (0.0, 0.75, 0.25), (0.0, 0.0, 1.0))
#: The ``codes`` group's terms: the latent code's distance and the classifier's entropy.
CODE_TERMS = ("latent", "entropy")
#: Ways the ``critics`` group (:func:`every_critic_terms`) reads the last and the kept critics
#: (``critic_snapshots``) at once, in the library's default score (:data:`DEFAULT_WEIGHTS`):
#: name -> (neighbour term, critic term). ``"library"``: the library's term; ``"every critic"``:
#: the mean of the term of each critic, each divided by its spread on the training images, as
#: the library's ``critic`` term combines the critics' values; ``"moved mean"``: each critic's
#: value averaged over the query and its four one-pixel moves before that mean.
EVERY_CRITIC_RULES = {"neighbor of every critic": ("every critic", "library"),
                      "critic moved mean": ("library", "moved mean"),
                      "neighbor of every critic, critic moved mean": ("every critic", "moved mean")}
#: Critics of ``--critic-averaging``, from the weights at the end of the last phase-1 epochs:
#: name -> how the last epochs' weights combine: ``("epoch", j)`` the weights j epochs
#: before the last (the score's fluctuation from epoch to epoch), ``("mean", k)`` the
#: uniform mean of the last k epochs' weights (stochastic weight averaging), ``("ema", d)``
#: their exponential moving average with decay d per epoch over :data:`SNAPSHOT_EPOCHS`.
#: The last epoch's critic is the fitted detector's, whose terms every fit saves already.
AVERAGED_CRITICS = {
    "epoch -2": ("epoch", 2), "epoch -3": ("epoch", 3),
    "mean of 3": ("mean", 3), "mean of 5": ("mean", 5), "mean of 10": ("mean", 10), "ema 0.7": ("ema", 0.7),
}
#: Score ensembles of ``--critic-averaging``: name -> epochs whose critics' scores are
#: averaged (each critic's terms scaled by their own spread), the last epoch's included.
CRITIC_ENSEMBLES = {"ensemble of 3": 3}
#: Ways to weigh the kept critics (``critic_snapshots``) in the ``critic`` term, which
#: :func:`weighed_critics` computes offline from one fit's saved values of each critic
#: (each divided by its spread on the training images): name -> rule. ``("recent", k)``: the
#: uniform mean of the last critic and the k most recent kept ones (the library's rule with
#: ``critic_snapshots=k``); ``("epoch",)``: every critic weighted by its epoch; ``("agreement",)``:
#: each kept critic weighted by the rank correlation of its values with the last critic's on
#: the training images (none below 0); ``("max",)``: the largest of the critics' values, each
#: centred on its median.
SNAPSHOT_RULES = {"recent 1": ("recent", 1), "recent 2": ("recent", 2), "recent 3": ("recent", 3),
                  "by epoch": ("epoch",), "by agreement": ("agreement",), "max": ("max",)}
#: The library's default (critic, neighbour, latent) weights, which :func:`snapshot_rule_scores` scores with.
DEFAULT_WEIGHTS = (0.25, 0.65, 0.1)
#: The library's default (critic_weight, neighbor_weight), which ``--critic-averaging`` scores with.
LIBRARY_WEIGHTS = (0.25, 0.75)
#: Phase-1 epochs whose critic weights ``--critic-averaging`` keeps.
SNAPSHOT_EPOCHS = 10
#: The library's term at the default ``neighbor_shift=1``, which ``--critic-averaging`` recomputes.
LIBRARY_BANK = "euc k1 all query shift4"
#: (critic_weight, neighbor_weight) of the combinations with the pixel error taking the rest.
WEIGHTS = ((0.0, 1.0), (0.25, 0.75), (0.5, 0.5), (0.25, 0.5))
#: The library's bank setting at ``neighbor_shift=0``, which ``--pixel-term`` combines with
#: the raw-pixel distance.
DEFAULT_BANK = "euc k1 all"
#: (critic, neighbor, pixel distance) weights of ``--pixel-term``.
PIXEL_WEIGHTS = ((0.25, 0.75, 0.0), (0.25, 0.5, 0.25), (0.25, 0.375, 0.375), (0.0, 0.5, 0.5))


#: Dimension of the random projection the coreset search works in.
_CORESET_DIM = 128


def coreset_rows(vectors: Tensor, size: int, seed: int) -> np.ndarray:
    """``size`` rows that cover ``vectors`` well: greedy k-center selection.

    Starting from a random row, each step adds the row farthest from the
    rows chosen so far, so that every row ends up close to a chosen one
    (PatchCore's coreset subsampling). Distances are measured in a random
    projection to at most 128 dimensions, which preserves them
    approximately at a fraction of the cost.

    Parameters
    ----------
    vectors : Tensor of shape (n, dim)
        Candidate rows.
    size : int
        Rows to choose; all ``n`` when ``size >= n``.
    seed : int
        Seed of the first row and of the projection.

    Returns
    -------
    ndarray of int, sorted

    Compared with a random subset of the same size on this protocol and not
    kept: its gain was within the spread between seeds and of opposite
    signs on MNIST and Fashion-MNIST.
    """
    n_samples = len(vectors)
    if n_samples <= size:
        return np.arange(n_samples)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    vectors = vectors.float()
    if vectors.shape[1] > _CORESET_DIM:
        projection = torch.randn(vectors.shape[1], _CORESET_DIM, generator=generator)
        vectors = vectors @ projection.to(vectors.device)
    first = int(torch.randint(n_samples, (1,), generator=generator))
    chosen = [first]
    nearest = (vectors - vectors[first]).pow(2).sum(1)
    for _ in range(size - 1):
        farthest = int(torch.argmax(nearest))
        chosen.append(farthest)
        nearest = torch.minimum(nearest, (vectors - vectors[farthest]).pow(2).sum(1))
    return np.sort(np.array(chosen))


def budget_name(params: dict) -> str:
    return f"{params.get('n_epochs', 10)}+{params.get('xzx_epochs', 2)} epochs " + json.dumps(
        {k: v for k, v in sorted(params.items()) if k not in ("n_epochs", "xzx_epochs")}
    )


def bank_terms(features_train: Tensor, features_eval: Tensor, seed: int, names=BANKS) -> dict[str, np.ndarray]:
    """``neighbor`` of the training images and evaluation rows for the banks ``names`` of
    :data:`BANKS`, from their critic features ``D_i``."""
    terms = {}
    for name in names:
        metric, k, pool, size, sampling = BANKS[name]
        vectors = feature_vectors(features_train, pool, metric)
        size = len(vectors) if size is None else size
        if sampling == "coreset":
            rows = coreset_rows(vectors, size, seed)
        else:
            rows = bank_rows(len(vectors), size, seed)
        bank = MemoryBank(vectors[rows], k, metric, pool)
        terms[f"train {name}"] = bank.distance(features_train).double().numpy()
        terms[f"eval {name}"] = bank.distance(features_eval).double().numpy()
    return terms


def critic_layers(det: DAnoGANDetector, X) -> list[Tensor]:
    """Activations of every convolution of the critic (after its LeakyReLU), one tensor per layer."""
    body = det.networks_.critic.body

    def compute(batch):
        outputs = []
        for conv in body:
            batch = F.leaky_relu(conv(batch), 0.2)
            outputs.append(batch.flatten(1).cpu())
        return outputs

    with torch.no_grad():
        parts = list(det._in_chunks(X, True, compute))
    return [torch.cat([p[i] for p in parts]) for i in range(len(body))]


def layer_bank_terms(det: DAnoGANDetector, X_train, X_eval) -> dict[str, np.ndarray]:
    """``neighbor`` of the training images and evaluation rows for every bank of :data:`LAYER_BANKS`."""
    train_layers, eval_layers = critic_layers(det, X_train), critic_layers(det, X_eval)
    scales = [layer.pow(2).sum(1).mean().sqrt() for layer in train_layers]
    terms = _relative_distance_terms(train_layers[-2], eval_layers[-2])
    for name, layers in LAYER_BANKS.items():
        train = torch.cat([train_layers[i] / scales[i] for i in layers], dim=1)
        query = torch.cat([eval_layers[i] / scales[i] for i in layers], dim=1)
        bank = MemoryBank(train, 1, "euclidean", None)
        terms[f"train {name}"] = bank.distance(train).double().numpy()
        terms[f"eval {name}"] = bank.distance(query).double().numpy()
    return terms


def shifted(X: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Images ``X`` moved by ``(rows, columns)`` pixels, the uncovered border zero (MNIST's black)."""
    return shifted_images(torch.from_numpy(X), rows, columns, fill=0).numpy()


def moved_vectors(det: DAnoGANDetector, X, features: Tensor, offsets=_SQUARE) -> dict[tuple[int, int], Tensor]:
    """``D_i`` vectors (euclidean, every position) of ``X`` as it is (its critic features
    ``features``), offset ``(0, 0)``, and moved by every offset of ``offsets`` (by default
    :data:`_SQUARE`): what the shifted banks and queries read."""
    moved = {offset: torch.from_numpy(det.critic_features(shifted(X, *offset))) for offset in offsets}
    return {offset: feature_vectors(f, None, "euclidean") for offset, f in {(0, 0): features, **moved}.items()}


def turned(X: np.ndarray, degrees: float) -> np.ndarray:
    """Images ``X`` (n, H, W) or (n, C, H, W) turned counter-clockwise by ``degrees`` about
    their centre (bilinear), the uncovered corners zero; float32."""
    x = torch.from_numpy(np.asarray(X, np.float32))
    images = x.reshape(len(x), -1, *x.shape[-2:])
    a = np.deg2rad(degrees)
    theta = torch.tensor([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]], dtype=torch.float32)
    grid = F.affine_grid(theta.expand(len(images), 2, 3), images.shape, align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros").reshape(x.shape).numpy()


def turned_vectors(det: DAnoGANDetector, X) -> dict[tuple[str, int], Tensor]:
    """``D_i`` vectors (euclidean, every position) of ``X`` turned by every angle of
    :data:`TURN_QUERIES`, keyed ``("turn", degrees)`` beside :func:`moved_vectors`' offsets."""
    keys = {key for keys in TURN_QUERIES.values() for key in keys if key[0] == "turn"}
    return {key: feature_vectors(torch.from_numpy(det.critic_features(turned(X, key[1]))), None, "euclidean")
            for key in sorted(keys)}


def turn_scores(saved) -> dict[str, np.ndarray]:
    """The library's default score (:func:`library_score`) with the neighbour term of each
    setting of :data:`TURN_QUERIES` (needs the ``codes`` group's latent term)."""
    if "eval latent" not in saved:
        return {}
    critic = {part: saved[f"{part} critic"] for part in ("train", "eval")}
    return {f"{LIBRARY_LABEL} [{name}]": library_score(saved, critic, {part: saved[f"{part} {name}"]
                                                                       for part in ("train", "eval")})
            for name in TURN_QUERIES if f"eval {name}" in saved}


def patch_terms(features: dict[str, Tensor]) -> dict[str, np.ndarray]:
    """The ``patches`` group: the library's patch term (:meth:`MemoryBank.patch_distance`, the
    detector's ``patch_weight``) of the training and evaluation images against a bank of every
    training image's ``D_i`` map, a training image's own map left out. ``features``: per part,
    ``D_i`` of shape (n, C, H, W)."""
    train = features["train"]
    bank = MemoryBank(feature_vectors(train, None, "euclidean"), 1, "euclidean", None,
                      map_shape=map_shape(train, None))
    own = {"train": torch.arange(len(train)), "eval": torch.full((len(features["eval"]),), -1)}
    positions = {part: bank.patch_distances(features[part], exclude=own[part]).double().numpy()
                 for part in ("train", "eval")}
    low, median, high = np.percentile(positions["train"], [25, 50, 75], axis=0)

    def floored(scale):  # where training images hardly vary (blank borders), a tenth of the mean scale
        return np.maximum(scale, 0.1 * scale.mean() if scale.mean() > 0 else 1.0)

    scaled = {"patch w0 max /median": lambda d: d / floored(median),
              "patch w0 max z": lambda d: (d - median) / floored(high - low)}
    terms = {f"{part} {PATCH_TERM}": positions[part].max(1) for part in positions}
    terms.update({f"{part} {name}": scale(positions[part]).max(1) for name, scale in scaled.items() for part in positions})
    return terms


def patch_scores(saved) -> dict[str, np.ndarray]:
    """The patch term alone, in the library's default score (:func:`library_score`) in place of
    the neighbour term, and added to that score at :data:`PATCH_WEIGHTS` (needs the ``codes``
    group's latent term)."""
    scores = {}
    if "eval latent" not in saved:
        return scores
    critic = {part: saved[f"{part} critic"] for part in ("train", "eval")}
    library = {part: saved[f"{part} {LIBRARY_BANK}"] for part in ("train", "eval")}
    default = library_score(saved, critic, library)
    for name in (PATCH_TERM, *SCALED_PATCH_TERMS):
        if f"eval {name}" not in saved:
            continue
        patch = {part: saved[f"{part} {name}"] for part in ("train", "eval")}
        scores[name] = patch["eval"]
        scores[f"{LIBRARY_LABEL} [{name} for neighbor]"] = library_score(saved, critic, patch)
        scaled_patch = patch["eval"] / spread(patch["train"])
        for weight in PATCH_WEIGHTS:
            scores[f"{LIBRARY_LABEL} + {weight:g} {name}"] = default + weight * scaled_patch
        scaled = scaled_terms({part: {"critic": critic[part], "neighbor": library[part],
                                      "latent": saved[f"{part} latent"], "patch": patch[part]}
                               for part in ("train", "eval")})
        terms = ("critic", "neighbor", "latent", "patch")
        for shares in PATCH_SHARES:
            scores[f"{_label(tuple(zip(shares, terms)))} [{name}]"] = sum(w * scaled[t] for w, t in zip(shares, terms))
    return scores


def shifted_bank_terms(train: dict, query: Tensor, chunk: int = 500) -> dict[str, np.ndarray]:
    """``neighbor`` for every bank of :data:`SHIFT_BANKS`, from the training images' vectors by
    offset (:func:`moved_vectors`) and the evaluation rows' vectors. A training image is scored
    by the nearest bank row that is neither itself nor one of its own shifts."""
    n = len(train[(0, 0)])
    terms = {}
    for name, offsets in SHIFT_BANKS.items():
        bank = MemoryBank(torch.cat([train[(0, 0)], *(train[o] for o in offsets)]),
                          len(offsets) + 1, "euclidean", None)
        terms[f"eval {name}"] = torch.cat([bank.neighbors(query[i:i + chunk])[0][:, 0]
                                           for i in range(0, len(query), chunk)]).double().numpy()
        nearest = []
        for i in range(0, n, chunk):
            distances, rows = bank.neighbors(train[(0, 0)][i:i + chunk])
            # Row r of the bank is a copy of training image r % n; at most len(offsets)
            # of the len(offsets) + 1 neighbours are the query's own copies.
            own = rows % n == torch.arange(i, min(i + chunk, n))[:, None]
            first_other = (~own).int().argmax(1)
            nearest.append(distances.gather(1, first_other[:, None])[:, 0])
        terms[f"train {name}"] = torch.cat(nearest).double().numpy()
    return terms


def shifted_query_terms(moved: dict[str, dict], settings=SHIFT_QUERIES) -> dict[str, np.ndarray]:
    """``neighbor`` for every setting of ``settings`` (by default :data:`SHIFT_QUERIES`), as
    the library's ``neighbor_shift`` scores, from each part's vectors by offset
    (:func:`moved_vectors`) or turn (:func:`turned_vectors`): the bank holds every training
    image once, and a training image's moved or turned copies leave out its own row as the
    image itself does."""
    bank = MemoryBank(moved["train"][(0, 0)], 1, "euclidean", None)
    needed = {o for offsets in settings.values() for o in offsets}
    terms = {}
    for part, vectors in moved.items():
        unshifted, own = bank.distance_and_own_rows(vectors[(0, 0)])
        by_offset = {o: bank.distance(vectors[o], exclude=own) for o in needed}
        for name, offsets in settings.items():
            smallest = torch.stack([unshifted, *(by_offset[o] for o in offsets)]).min(0).values
            terms[f"{part} {name}"] = smallest.double().numpy()
    return terms


class CriticSnapshots(EpochHook):
    """Keeps the critic's weights (CPU copies) at the end of the last :data:`SNAPSHOT_EPOCHS`
    phase-1 epochs, oldest first."""

    def __init__(self) -> None:
        self.states: collections.deque = collections.deque(maxlen=SNAPSHOT_EPOCHS)

    def on_epoch_end(self, run, phase, epoch, record) -> None:
        if phase == "phase 1":
            self.states.append({k: v.detach().to("cpu", copy=True) for k, v in run.nets.critic.state_dict().items()})


@contextlib.contextmanager
def recording_critics():
    """Within it, every detector fit also runs a :class:`CriticSnapshots`, which it yields.

    The estimator takes no epoch hooks, so its call of ``fit_networks`` is wrapped for the
    duration (a development measurement, not a library feature)."""
    snapshots = CriticSnapshots()
    original = estimator_module.fit_networks

    @functools.wraps(original)
    def fit_with_snapshots(*args, hooks=(), **kwargs):
        return original(*args, hooks=(*hooks, snapshots), **kwargs)

    with mock.patch.object(estimator_module, "fit_networks", fit_with_snapshots):
        yield snapshots


def averaged_state(states, rule: tuple[str, float]) -> dict[str, Tensor] | None:
    """The critic weights of one :data:`AVERAGED_CRITICS` rule from the kept ``states``
    (oldest first); ``None`` when fewer epochs were kept than the rule reads."""
    kind, value = rule
    latest_first = list(reversed(states))
    if kind == "ema":
        weights = [value**j for j in range(len(latest_first))]
    else:
        count = int(value)
        if len(latest_first) < count:
            return None
        if kind == "epoch":
            return latest_first[count - 1]
        weights = [1.0] * count
    members = latest_first[: len(weights)]
    total = sum(weights)
    return {k: sum(w / total * state[k] for w, state in zip(weights, members)) for k in members[0]}


def critic_terms(det: DAnoGANDetector, state: dict[str, Tensor], X_train, X_eval) -> dict[str, np.ndarray]:
    """The library's two default terms, ``critic`` and ``neighbor`` (at ``neighbor_shift=1``),
    of the training images and evaluation rows, with the critic's weights set to ``state``
    (the detector's own weights are put back after)."""
    critic = det.networks_.critic
    own_weights = {k: v.clone() for k, v in critic.state_dict().items()}
    critic.load_state_dict(state)
    try:
        features = {part: torch.from_numpy(det.critic_features(X)) for part, X in (("train", X_train), ("eval", X_eval))}
        with torch.no_grad():
            values = {part: -torch.cat([critic.value_from_features(chunk.to(det.device_)).cpu()
                                        for chunk in f.split(1000)]) for part, f in features.items()}
        moved = {part: moved_vectors(det, X, features[part], _CROSS) for part, X in (("train", X_train), ("eval", X_eval))}
        neighbor = shifted_query_terms(moved, {LIBRARY_BANK: _CROSS})
    finally:
        critic.load_state_dict(own_weights)
    return {**{f"{part} critic": values[part].double().numpy() for part in values},
            **{f"{part} neighbor": neighbor[f"{part} {LIBRARY_BANK}"] for part in values}}


def averaged_critic_terms(det: DAnoGANDetector, snapshots: CriticSnapshots, X_train, X_eval) -> dict[str, np.ndarray]:
    """:func:`critic_terms` for every critic of :data:`AVERAGED_CRITICS` that the kept
    epochs allow, saved as ``"<part> <term> [<critic>]"``."""
    last = snapshots.states[-1]
    if any(not torch.equal(last[k].cpu(), v.cpu()) for k, v in det.networks_.critic.state_dict().items()):
        raise RuntimeError("the last kept critic is not the fitted detector's")
    terms = {}
    for name, rule in AVERAGED_CRITICS.items():
        state = averaged_state(snapshots.states, rule)
        if state is not None:
            terms.update({f"{key} [{name}]": value
                          for key, value in critic_terms(det, state, X_train, X_eval).items()})
    return terms


def _routed_codes(det: DAnoGANDetector, X) -> tuple[Tensor, Tensor, Tensor]:
    """Latent codes ``E_k(x)``, clusters ``k`` and the classifier's entropies of ``X``."""
    nets = det.networks_

    def compute(batch):
        _, logits, cluster, latent = nets.route_and_encode(batch)
        entropy = -(torch.softmax(logits, 1) * torch.log_softmax(logits, 1)).sum(1)
        return latent.flatten(1).cpu(), cluster.cpu(), entropy.cpu()

    with torch.no_grad():
        parts = list(det._in_chunks(X, True, compute))
    return tuple(torch.cat([p[i] for p in parts]) for i in range(3))


def code_terms(det: DAnoGANDetector, X_train, X_eval) -> dict[str, np.ndarray]:
    """The ``codes`` group: ``latent``, the euclidean distance of a query's latent code to
    the nearest training code of the same cluster (each encoder has its own latent space;
    a training image leaves out its own code, and a query whose cluster holds no training
    image takes the largest training distance), and ``entropy``, the entropy of the
    classifier's cluster distribution (a query no cluster claims is spread over several)."""
    z_train, k_train, h_train = _routed_codes(det, X_train)
    terms = {"train entropy": h_train.double().numpy()}
    distance = {"train": torch.full((len(z_train),), float("inf"))}
    z_eval, k_eval, h_eval = _routed_codes(det, X_eval)
    terms["eval entropy"] = h_eval.double().numpy()
    distance["eval"] = torch.full((len(z_eval),), float("inf"))
    for k in k_train.unique():
        bank = z_train[k_train == k]
        for part, z, clusters in (("train", z_train, k_train), ("eval", z_eval, k_eval)):
            rows = (clusters == k).nonzero()[:, 0]
            if len(rows) == 0:
                continue
            d = torch.cdist(z[rows], bank)
            if part == "train":
                d.fill_diagonal_(float("inf"))  # rows and bank list this cluster's images alike
            distance[part][rows] = d.min(1).values
    largest = distance["train"][distance["train"].isfinite()].max()
    for part, d in distance.items():
        terms[f"{part} latent"] = torch.where(d.isfinite(), d, largest).double().numpy()
    return terms


def every_critic_terms(det: DAnoGANDetector, X_train, X_eval) -> dict[str, np.ndarray]:
    """The ``critics`` group: for the last critic and every kept one (``critic_snapshots``), the
    library's ``neighbor`` term read from that critic's ``D_i`` (:data:`LIBRARY_BANK`: a bank of
    every training image, queries also moved by one pixel along each axis), ``neighbor [critic
    <name>]``, and its value ``-D(x)`` averaged over the query and the same four moves, ``critic
    moved mean [critic <name>]``; ``<name>`` is ``last`` or ``epoch <e>``."""
    critics = {"last": det.networks_.critic}
    if det.critic_snapshots_ is not None:
        snapshots = det.critic_snapshots_
        critics.update({f"epoch {e}": c for e, c in zip(snapshots.epochs, snapshots.critics)})
    terms = {}
    for name, critic in critics.items():

        def compute(batch, critic=critic):
            features = critic.features(batch)
            return features.flatten(1).cpu(), -critic.value_from_features(features).cpu()

        moved = {}
        for part, X in (("train", X_train), ("eval", X_eval)):
            moved[part], values = {}, []
            for offset in ((0, 0), *_CROSS):
                with torch.no_grad():
                    parts = list(det._in_chunks(X if offset == (0, 0) else shifted(X, *offset), True, compute))
                moved[part][offset] = torch.cat([p[0] for p in parts])
                values.append(torch.cat([p[1] for p in parts]))
            terms[f"{part} critic moved mean [critic {name}]"] = torch.stack(values).mean(0).double().numpy()
        neighbor = shifted_query_terms(moved, {"neighbor": _CROSS})
        terms.update({f"{part} neighbor [critic {name}]": neighbor[f"{part} neighbor"] for part in ("train", "eval")})
    return terms


def every_critic_scores(saved) -> dict[str, np.ndarray]:
    """The library's default score with each rule of :data:`EVERY_CRITIC_RULES`, and the
    neighbour term of every critic alone (``neighbor of every critic``); empty for a fit
    that did not run the ``critics`` group."""
    names = [k[len("eval neighbor [critic "):-1] for k in saved if k.startswith("eval neighbor [critic ")]
    if not names:
        return {}

    def mean_of_critics(term: str) -> dict[str, np.ndarray]:
        return {part: v.mean(0) for part, v in scaled_rows(saved, [f"{term} [critic {n}]" for n in names]).items()}

    neighbor = {"library": {part: saved[f"{part} {LIBRARY_BANK}"] for part in ("train", "eval")},
                "every critic": mean_of_critics("neighbor")}
    critic = {"library": {part: saved[f"{part} critic"] for part in ("train", "eval")},
              "moved mean": mean_of_critics("critic moved mean")}
    scores = {"neighbor of every critic": neighbor["every critic"]["eval"]}
    for name, (neighbor_rule, critic_rule) in EVERY_CRITIC_RULES.items():
        scores[f"{LIBRARY_LABEL} [{name}]"] = library_score(saved, critic[critic_rule], neighbor[neighbor_rule])
    return scores


def _relative_distance_terms(train: Tensor, query: Tensor) -> dict[str, np.ndarray]:
    """``D_i`` banks scored by the mean distance to 3 neighbours, and by the distance to the
    nearest bank row divided by that row's own distance to its nearest other row (a local
    density correction, as in LOF)."""
    terms = {}
    own = MemoryBank(train, 1, "euclidean", None).distance(train)
    bank = MemoryBank(train, 3, "euclidean", None)
    for part, vectors in (("train", train), ("eval", query)):
        distances, rows = bank.neighbors(vectors)
        terms[f"{part} euc k3 all"] = distances.mean(1).double().numpy()
        terms[f"{part} euc k1 all relative"] = (distances[:, 0] / own[rows[:, 0]].clamp_min(1e-12)).double().numpy()
    return terms


def _label(weighted_terms) -> str:
    """``((0.75, "neighbor"), (0.25, "critic"), (0.0, "mse"))`` -> ``"0.75 neighbor + 0.25 critic"``."""
    return " + ".join(f"{w:g} {t}" for w, t in weighted_terms if w > 1e-9)


def variant_scores(saved, weights=WEIGHTS) -> dict[str, np.ndarray]:
    """Every variant's anomaly score of the evaluation rows, from one fit's saved terms.

    ``weights`` are the (critic, neighbour) weights combined with each bank, the pixel
    error taking the rest.
    """
    train = {t: saved[f"train {t}"] for t in ("mse", "kl", "critic")}
    evaluation = {t: saved[f"eval {t}"] for t in ("mse", "kl", "critic")}
    spreads = term_spreads(train)
    scores = {
        "eq. 5.1": anomaly_score(evaluation, 0.9),
        "mse": evaluation["mse"],
        "critic": evaluation["critic"],
        **({"feature_mse": saved["eval feature_mse"]} if "eval feature_mse" in saved else {}),
        "mse + critic (previous default)": anomaly_score(evaluation, 0.0, 0.5, spreads),
    }
    bank_spreads = {}
    # Fits saved before a bank setting was added lack its terms.
    for name in [n for n in (*BANKS, *LAYER_BANKS, *EXTRA_BANKS, *SHIFT_BANKS, *SHIFT_QUERIES) if f"eval {n}" in saved]:
        query = dict(evaluation, neighbor=saved[f"eval {name}"])
        bank_spreads[name] = term_spreads(dict(train, neighbor=saved[f"train {name}"]))
        for critic, neighbor in weights:
            label = _label(((neighbor, "neighbor"), (critic, "critic"), (1.0 - critic - neighbor, "mse")))
            scores[f"{label} [{name}]"] = anomaly_score(query, 0.0, critic, bank_spreads[name],
                                                       neighbor_weight=neighbor)
    if "train pixels" in saved:
        # The raw-pixel nearest-neighbour distance as one more term, scaled like the others.
        name = DEFAULT_BANK
        pixel_spread = term_spreads({"neighbor": saved["train pixels"]})["neighbor"]
        critic_term = evaluation["critic"] / bank_spreads[name]["critic"]
        neighbor_term = saved[f"eval {name}"] / bank_spreads[name]["neighbor"]
        pixel_term = saved["eval pixels"] / pixel_spread
        for critic, neighbor, pixels in PIXEL_WEIGHTS:
            label = _label(((neighbor, "neighbor"), (critic, "critic"), (pixels, "pixel distance")))
            scores[f"{label} [{name}]"] = critic * critic_term + neighbor * neighbor_term + pixels * pixel_term
    scores.update(averaged_critic_scores(saved))
    scores.update(code_scores(saved))
    scores.update(snapshot_rule_scores(saved))
    scores.update(every_critic_scores(saved))
    scores.update(turn_scores(saved))
    scores.update(patch_scores(saved))
    scores["raw-pixel 1-NN"] = saved["eval 1-NN"]
    return scores


def last_critic_terms(det: DAnoGANDetector, X_train, X_eval) -> dict[str, np.ndarray]:
    """``-D(x)`` of the detector's own (last) critic alone, when its ``critic`` term also reads
    earlier critics (``critic_snapshots``): the score without them, from the same fit; and
    each kept critic's ``-D(x)`` (``critic [epoch <e>]``), to weigh them otherwise offline, and
    the epoch of each (``critic epochs``: the last critic's first)."""
    snapshots = det.critic_snapshots_
    if snapshots is None:
        return {}
    names = ["last", *(f"epoch {e}" for e in snapshots.epochs)]

    def compute(batch):
        return torch.cat([-det.networks_.critic(batch)[0][None], snapshots.values(batch)]).cpu()

    terms = {"critic epochs": np.array([det.n_epochs, *snapshots.epochs])}
    with torch.no_grad():
        for part, X in (("train", X_train), ("eval", X_eval)):
            values = torch.cat(list(det._in_chunks(X, True, compute)), dim=1).numpy().astype(np.float64)
            terms.update({f"{part} critic [{name}]": row for name, row in zip(names, values)})
    return terms


def scaled_terms(parts: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Each term of ``parts["eval"]`` divided by its spread on ``parts["train"]``."""
    return {t: parts["eval"][t] / spread(parts["train"][t]) for t in parts["eval"]}


def code_scores(saved) -> dict[str, np.ndarray]:
    """The ``codes`` group's terms alone and added to the library's two terms
    (:data:`LIBRARY_BANK`) at :data:`CODE_WEIGHTS`, each term divided by its spread on
    the training images; for a fit whose critic term read earlier critics, the same with
    the last critic alone (``[last critic only]``)."""
    scores = {}
    critics = {"": "critic", " [last critic only]": "critic [last]"}
    for code, (suffix, critic) in itertools.product(CODE_TERMS, critics.items()):
        if f"eval {code}" not in saved or f"eval {critic}" not in saved:
            continue
        scaled = scaled_terms({part: {"critic": saved[f"{part} {critic}"], "neighbor": saved[f"{part} {LIBRARY_BANK}"],
                                      code: saved[f"{part} {code}"]} for part in ("train", "eval")})
        for weights in CODE_WEIGHTS:
            named = tuple(zip(weights, ("critic", "neighbor", code)))
            if suffix and weights[0] == 0.0:
                continue  # no critic term: the same score with either critic
            if weights[:2] == (0.0, 0.0):
                scores[code] = scaled[code]
                continue
            label = f"{_label(named)} [{LIBRARY_BANK}]{suffix}"
            scores[label] = sum(w * scaled[t] for w, t in named if w > 0)
    if "eval critic [last]" in saved:
        scores["critic [last critic only]"] = saved["eval critic [last]"]
    return scores


def scaled_rows(saved, terms: list[str]) -> dict[str, np.ndarray]:
    """Per part, the saved ``terms`` stacked, each divided by its spread on the training
    images: shape (len(terms), rows)."""
    values = {part: np.stack([saved[f"{part} {t}"] for t in terms]) for part in ("train", "eval")}
    scales = np.array([spread(v) for v in values["train"]])[:, None]
    return {part: v / scales for part, v in values.items()}


def library_score(saved, critic: dict[str, np.ndarray], neighbor: dict[str, np.ndarray]) -> np.ndarray:
    """The library's default score (:data:`DEFAULT_WEIGHTS`) of the evaluation rows with the
    ``critic`` and ``neighbor`` terms given per part and the saved ``latent`` term, every term
    divided by its spread on the training images."""
    scaled = scaled_terms({part: {"critic": critic[part], "neighbor": neighbor[part], "latent": saved[f"{part} latent"]}
                           for part in ("train", "eval")})
    return sum(w * scaled[t] for w, t in zip(DEFAULT_WEIGHTS, ("critic", "neighbor", "latent")))


#: The label of :func:`library_score`'s variants, before each rule's name.
LIBRARY_LABEL = f"{_label(tuple(zip(DEFAULT_WEIGHTS, ('critic', 'neighbor', 'latent'))))} [{LIBRARY_BANK}]"


def kept_critic_values(saved) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The epoch of every critic a fit saved (the last critic's first, then the kept ones
    oldest first) and, per part, their values, each critic's divided by its spread on the
    training images: shape (critics, rows)."""
    epochs = saved["critic epochs"]
    names = ["last", *(f"epoch {e}" for e in epochs[1:])]
    return epochs, scaled_rows(saved, [f"critic [{n}]" for n in names])


def weighed_critics(epochs: np.ndarray, values: dict[str, np.ndarray], rule: tuple) -> dict[str, np.ndarray]:
    """The ``critic`` term of each part with the critics of :func:`kept_critic_values`
    weighed by ``rule`` (:data:`SNAPSHOT_RULES`)."""
    train = values["train"]
    if rule[0] == "max":
        centre = np.median(train, axis=1, keepdims=True)
        return {part: (v - centre).max(0) for part, v in values.items()}
    if rule[0] == "recent":
        weights = np.r_[1.0, np.zeros(len(epochs) - 1)]
        weights[len(epochs) - min(rule[1], len(epochs) - 1):] = 1.0
    elif rule[0] == "epoch":
        weights = epochs.astype(np.float64)
    else:  # agreement
        weights = np.r_[1.0, [max(0.0, spearmanr(t, train[0])[0]) for t in train[1:]]]
    return {part: weights @ v / weights.sum() for part, v in values.items()}


def snapshot_rule_scores(saved) -> dict[str, np.ndarray]:
    """The library's default score (:data:`DEFAULT_WEIGHTS`) with each rule of
    :data:`SNAPSHOT_RULES` for its ``critic`` term, every term divided by its spread on the
    training images; empty for a fit that did not save each kept critic's values."""
    if "critic epochs" not in saved:
        return {}
    epochs, values = kept_critic_values(saved)
    neighbor = {part: saved[f"{part} {LIBRARY_BANK}"] for part in ("train", "eval")}
    return {f"{LIBRARY_LABEL} [critic {name}]": library_score(saved, weighed_critics(epochs, values, rule), neighbor)
            for name, rule in SNAPSHOT_RULES.items()}


def averaged_critic_scores(saved) -> dict[str, np.ndarray]:
    """The library's default score (0.25 critic + 0.75 neighbour, each scaled by its spread on
    the training images) from every critic of :data:`AVERAGED_CRITICS` a fit saved, and the
    mean of those scores over the last epochs' critics (:data:`CRITIC_ENSEMBLES`)."""
    critic_weight, neighbor_weight = LIBRARY_WEIGHTS
    label = _label(((neighbor_weight, "neighbor"), (critic_weight, "critic")))
    names = [n for n in AVERAGED_CRITICS if f"eval neighbor [{n}]" in saved]
    if not names:
        return {}
    for part in ("train", "eval"):  # the last epoch's critic: the detector's own terms
        saved = dict(saved, **{f"{part} critic [epoch -1]": saved[f"{part} critic"],
                               f"{part} neighbor [epoch -1]": saved[f"{part} {LIBRARY_BANK}"]})
    by_critic = {}
    for name in ["epoch -1", *names]:
        train, query = ({t: saved[f"{part} {t} [{name}]"] for t in ("critic", "neighbor")} for part in ("train", "eval"))
        by_critic[name] = anomaly_score(query, 0.0, critic_weight, term_spreads(train), neighbor_weight=neighbor_weight)
    scores = {f"{label} [critic {name}]": score for name, score in by_critic.items()}
    for name, count in CRITIC_ENSEMBLES.items():
        members = [f"epoch -{j}" for j in range(1, count + 1)]
        if all(m in by_critic for m in members):
            scores[f"{label} [critic {name}]"] = np.mean([by_critic[m] for m in members], axis=0)
    return scores


def pixel_terms(args, run: dict, cache: dict) -> dict[str, np.ndarray]:
    """Raw-pixel nearest-neighbour distance of a fit's training images (to their other
    training images) and evaluation rows, rebuilt from the fixed split and kept beside the fit."""
    path = args.out / run["file"].replace(".npz", ".pixels.npz")
    if path.exists():
        return dict(np.load(path))
    if "tasks" not in cache:
        # Every class the saved runs hold, which need not be those of ``--classes``.
        cache["tasks"] = {c: task for task in dev_tasks(args, cache["classes"]) for c in task.masks}
    task = cache["tasks"][run["class"]]
    flat = lambda X: torch.from_numpy(as_images(X).reshape(len(X), -1))  # noqa: E731
    bank = MemoryBank(flat(task.X_train), 1, "euclidean", None)
    terms = {"train pixels": bank.distance(flat(task.X_train)).double().numpy(),
             "eval pixels": bank.distance(flat(task.X_eval[task.masks[run["class"]]])).double().numpy()}
    np.savez(path, **terms)
    return terms


@dataclass
class DevTask:
    """One fit's data: training images, evaluation rows and, per tested class, its rows' mask."""

    X_train: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray
    masks: dict[int, np.ndarray]


def dev_tasks(args, classes) -> list[DevTask]:
    """The fits of one detector seed: one per held-out class of ``classes`` (MNIST,
    Fashion-MNIST training file), or one for a Wheel preset drawn from ``args.split_seed``,
    tested on each of its anomalies in ``classes``."""
    if args.dataset in WHEEL_BENCHMARKS:
        pool = load_pool(args.dataset, args.split_seed)
        tested = [c for c in pool.anomaly_classes if c in classes]
        (task,) = make_tasks(pool, tested, args.split_seed)
        masks = {c: task.masks[pool.class_names[c]] for c in tested}
        return [DevTask(task.X_train, task.X_test, task.y_test, masks)]
    X, y = load_dataset(args.dataset, "train", data_home=args.data_home)
    tasks = []
    for anomaly_class in classes:
        X_train, X_eval, y_eval = fixed_split(X, y, anomaly_class, args)
        tasks.append(DevTask(X_train, X_eval, y_eval, {anomaly_class: np.ones(len(y_eval), bool)}))
    return tasks


def fixed_split(X, y, anomaly_class: int, args) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training images, evaluation rows and their labels for one held-out class (split seed fixed)."""
    split = leave_one_class_out(X, y, anomaly_class, random_state=args.split_seed)
    rows = np.random.default_rng(args.split_seed).choice(len(split.X_test), args.n_eval, replace=False)
    return split.X_train[: args.n_train], split.X_test[rows], split.y_test[rows]


def run(args, params: dict, out: Path) -> None:
    """Fit and save every (class, seed); with ``--budgets``, one warm-started chain per pair.

    A fit tested on several classes (a Wheel preset's anomalies) saves one file per class,
    each with the evaluation rows of that class's test."""
    tasks = dev_tasks(args, args.classes)
    chain = [dict(params)] if not args.budgets else [
        dict(params, n_epochs=n, xzx_epochs=phase2_epochs(n)) for n in args.budgets]
    names = [budget_name(p) + (f" warm-started from {chain[0]['n_epochs']}" if i else "")
             for i, p in enumerate(chain)]
    for task, seed in itertools.product(tasks, args.seeds):
        files = {c: [f"{budget_key(name)}_class{c}_seed{seed}.npz" for name in names] for c in task.masks}
        if all((out / class_files[-1]).exists() for class_files in files.values()):
            continue
        X_train, X_eval, y_eval = task.X_train, task.X_eval, task.y_eval
        det = DAnoGANDetector(random_state=seed, warm_start=len(chain) > 1, **chain[0])
        fit_cpu = fit_wall = 0.0
        for step, (budget, settings) in enumerate(zip(names, chain)):
            # A later budget continues phase 1 and reruns xzx; its CPU time counts every fit
            # of the chain so far (the earlier budgets' xzx included, an overestimate).
            start, start_wall = time.process_time(), time.perf_counter()
            with recording_critics() if args.critic_averaging else contextlib.nullcontext() as snapshots:
                det.set_params(**settings).fit(X_train)
            fit_cpu += time.process_time() - start
            fit_wall += time.perf_counter() - start_wall  # the measure on a GPU, where CPU time is not
            saved = {"y_eval": y_eval}
            for part, data in (("train", X_train), ("eval", X_eval)):
                components = det.score_components(data)
                saved.update({f"{part} {t}": components[t] for t in ("mse", "kl", "feature_mse", "critic")})
            # The critic reads every image once, as it is and moved, for every bank alike.
            features = {part: torch.from_numpy(det.critic_features(X))
                        for part, X in (("train", X_train), ("eval", X_eval))}
            saved.update(bank_terms(features["train"], features["eval"], seed,
                                    BANKS if "settings" in args.bank_groups else [DEFAULT_BANK]))
            if "layers" in args.bank_groups:
                saved.update(layer_bank_terms(det, X_train, X_eval))
            moved = {"train": moved_vectors(det, X_train, features["train"]),
                     "eval": moved_vectors(det, X_eval, features["eval"])}
            if "shifts" in args.bank_groups:
                saved.update(shifted_bank_terms(moved["train"], moved["eval"][(0, 0)]))
            query_settings = dict(SHIFT_QUERIES)
            if "turns" in args.bank_groups:
                moved["train"].update(turned_vectors(det, X_train))
                moved["eval"].update(turned_vectors(det, X_eval))
                query_settings.update(TURN_QUERIES)
            saved.update(shifted_query_terms(moved, query_settings))
            if "codes" in args.bank_groups:
                saved.update(code_terms(det, X_train, X_eval))
            if "critics" in args.bank_groups:
                saved.update(every_critic_terms(det, X_train, X_eval))
            if "patches" in args.bank_groups and features["train"].dim() == 4:
                saved.update(patch_terms(features))
            if args.critic_averaging:
                saved.update(averaged_critic_terms(det, snapshots, X_train, X_eval))
            saved.update(last_critic_terms(det, X_train, X_eval))
            saved["eval 1-NN"] = RawPixelNN().fit(X_train).anomaly_score(X_eval)
            for anomaly_class, mask in task.masks.items():
                file = files[anomaly_class][step]
                new = not (out / file).exists()
                np.savez(out / file, **{k: v[mask] if k == "y_eval" or k.startswith("eval ") else v
                                        for k, v in saved.items()})
                if new:  # a chain cut short earlier reruns; its finished budgets are recorded once
                    record = {"dataset": args.dataset, "class": anomaly_class, "seed": seed, "budget": budget,
                              "file": file, "fit_cpu_s": round(fit_cpu, 1),
                              "fit_wall_s": round(fit_wall, 1), "device": det.device_}
                    with (out / "runs.jsonl").open("a") as f:
                        f.write(json.dumps(record) + "\n")
            print(f"classes {sorted(task.masks)} seed {seed}, {budget}: {fit_cpu:.0f} CPU s, "
                  f"{fit_wall:.0f} s on {det.device_}", flush=True)


def budget_key(budget: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in budget).strip("_")


def read_aucs(out: Path, args=None) -> list[dict]:
    """The runs of ``out`` with every variant's AUC (and the pixel-distance combinations
    when ``args.pixel_term`` is set)."""
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line]
    weights = WEIGHTS if args is None or not args.weights else args.weights
    cache: dict = {"classes": sorted({run["class"] for run in runs})}
    for run in runs:
        saved = dict(np.load(out / run["file"]))
        if args is not None and args.pixel_term:
            saved.update(pixel_terms(args, run, cache))
        run["auc"] = {name: float(roc_auc_score(saved["y_eval"], scores))
                      for name, scores in variant_scores(saved, weights).items()}
    return runs


def summary(records: list[dict], classes: list[int], top: int | None = None) -> None:
    """Mean AUC over ``classes`` per seed; seeds' mean and spread, per budget and variant."""
    for budget in sorted({r["budget"] for r in records}):
        rows = [r for r in records if r["budget"] == budget and r["class"] in classes]
        seeds = sorted({r["seed"] for r in rows})
        complete = [s for s in seeds if {r["class"] for r in rows if r["seed"] == s} >= set(classes)]
        if not complete:
            continue
        minutes = np.mean([r["fit_cpu_s"] for r in rows if r["seed"] in complete]) / 60
        print(f"\n{rows[0]['dataset']}, {budget}: {len(classes)} classes, seeds {complete}, "
              f"{minutes:.1f} CPU minutes per fit\n")
        print("| score | mean AUC | spread between seeds | " + " | ".join(f"seed {s}" for s in complete) + " |")
        print("|---|---:|---:|" + "---:|" * len(complete))
        per_variant = {}
        # Runs that computed fewer banks (``--bank-groups``) lack some variants.
        for name in [n for n in rows[0]["auc"] if all(n in r["auc"] for r in rows)]:
            per_seed = [np.mean([r["auc"][name] for r in rows if r["seed"] == s]) for s in complete]
            per_variant[name] = per_seed
        ranked = sorted(per_variant.items(), key=lambda item: -np.mean(item[1]))
        for name, per_seed in ranked[:top] if top else ranked:
            print(f"| {name} | {np.mean(per_seed):.3f} | {np.ptp(per_seed):.3f} | "
                  + " | ".join(f"{v:.3f}" for v in per_seed) + " |")


def curve(records: list[dict], classes: list[int], variants: list[str]) -> None:
    """AUC against CPU minutes: one row per budget (and variant), fastest first."""
    print("| budget | CPU minutes per fit | score | mean AUC | spread between seeds |")
    print("|---|---:|---|---:|---:|")
    rows_out = []
    for budget in {r["budget"] for r in records}:
        rows = [r for r in records if r["budget"] == budget and r["class"] in classes]
        seeds = [s for s in sorted({r["seed"] for r in rows})
                 if {r["class"] for r in rows if r["seed"] == s} >= set(classes)]
        if not seeds:
            continue
        minutes = np.mean([r["fit_cpu_s"] for r in rows if r["seed"] in seeds]) / 60
        for name in variants:
            per_seed = [np.mean([r["auc"][name] for r in rows if r["seed"] == s]) for s in seeds]
            rows_out.append((minutes, budget, name, np.mean(per_seed), np.ptp(per_seed)))
    for minutes, budget, name, mean, spread in sorted(rows_out):
        print(f"| {budget} | {minutes:.1f} | {name} | {mean:.3f} | {spread:.3f} |")


def per_class(records: list[dict], variants: list[str]) -> None:
    """AUC per held-out class (mean over seeds) of ``variants`` beside the raw-pixel 1-NN."""
    names = list(dict.fromkeys([*variants, "raw-pixel 1-NN"]))  # the 1-NN once, also when asked for
    for budget in sorted({r["budget"] for r in records}):
        rows = [r for r in records if r["budget"] == budget]
        print(f"\n{rows[0]['dataset']}, {budget}: AUC per held-out class, mean over seeds\n")
        print("| class | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for anomaly_class in sorted({r["class"] for r in rows}):
            of_class = [r for r in rows if r["class"] == anomaly_class]
            print(f"| {anomaly_class} | "
                  + " | ".join(f"{np.mean([r['auc'][n] for r in of_class]):.3f}" for n in names) + " |")


def _weight_pair(text: str) -> tuple[float, float]:
    """``"0.25,0.75"`` -> ``(0.25, 0.75)``: critic and neighbour weights, summing to at most 1."""
    try:
        critic, neighbor = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CRITIC,NEIGHBOR such as 0.25,0.75, got {text!r}") from None
    if min(critic, neighbor) < 0 or critic + neighbor > 1 + 1e-9:
        raise argparse.ArgumentTypeError(f"weights must be >= 0 and sum to at most 1, got {text!r}")
    return critic, neighbor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist", *WHEEL_BENCHMARKS])
    parser.add_argument("--classes", type=int, nargs="+", default=None,
                        help="held-out classes (default: all ten), or a Wheel preset's anomaly labels "
                             "(default: all of them)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="detector seeds")
    parser.add_argument("--split-seed", type=int, default=1234)
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-eval", type=int, default=2000)
    parser.add_argument("--params", default='{"n_epochs": 6, "xzx_epochs": 1}',
                        help="JSON of DAnoGANDetector parameters (the training budget and recipe)")
    parser.add_argument("--budgets", type=int, nargs="+", default=None, metavar="N_EPOCHS",
                        help="phase-1 epochs of several budgets read off one warm-started fit per "
                             "class and seed (xzx: a fifth of them, at least one)")
    parser.add_argument("--bank-groups", nargs="*", default=list(BANK_GROUPS), choices=BANK_GROUPS,
                        help="which banks to compute besides the library's (DEFAULT_BANK, SHIFT_QUERIES): "
                             "the settings of BANKS, the other critic LAYER_BANKS (with EXTRA_BANKS), "
                             "the SHIFT_BANKS, the latent-code and entropy terms (codes), the terms of every "
                             "kept critic (critics), queries also turned (TURN_QUERIES, turns), patch distances "
                             "(PATCH_TERM, patches); none when given alone")
    parser.add_argument("--critic-averaging", action="store_true",
                        help="also keep the critic's weights of the last phase-1 epochs and score with "
                             "each, their averages (AVERAGED_CRITICS) and score ensembles (CRITIC_ENSEMBLES)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--summary", action="store_true", help="only print the summary of --out")
    parser.add_argument("--pixel-term", action="store_true",
                        help="also combine the raw-pixel nearest-neighbour distance as a score term")
    parser.add_argument("--weights", nargs="+", type=_weight_pair, default=None, metavar="CRITIC,NEIGHBOR",
                        help="(critic, neighbour) weights to combine with each bank, instead of WEIGHTS; "
                             "computed from the saved fits")
    parser.add_argument("--top", type=int, default=None, help="rows of the summary (default: all)")
    parser.add_argument("--curve", nargs="+", default=None, metavar="VARIANT",
                        help="instead of the summary, these variants' mean AUC against CPU minutes "
                             "(reads --out, fits nothing)")
    parser.add_argument("--per-class", nargs="+", default=None, metavar="VARIANT",
                        help="instead of the summary, these variants' AUC per held-out class "
                             "(reads --out, fits nothing)")
    args = parser.parse_args()
    if args.classes is None:
        wheel = WHEEL_BENCHMARKS.get(args.dataset)
        args.classes = list(range(10)) if wheel is None else list(wheel.anomaly_labels)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if not (args.summary or args.curve or args.per_class):  # the views read what is there
        run(args, json.loads(args.params), args.out)
    records = read_aucs(args.out, args)
    if args.curve:
        curve(records, args.classes, args.curve)
    elif args.per_class:
        per_class(records, args.per_class)
    else:
        summary(records, args.classes, args.top)


def main_patched(option: str, patch, description: str) -> None:
    """:func:`main` after ``patch(value)``, ``value`` the float given as ``option``, for
    screens of settings the library does not have (``option`` is taken out of the arguments)."""
    parser = argparse.ArgumentParser(description=description, add_help=False)
    parser.add_argument(option, type=float, required=True, dest="value")
    args, rest = parser.parse_known_args()
    patch(args.value)
    with mock.patch("sys.argv", [sys.argv[0], *rest]):
        main()


if __name__ == "__main__":
    main()
