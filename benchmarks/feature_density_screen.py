"""Screen of Gaussian density terms on the critic's features, beside the memory bank's distance.

The library's ``neighbor`` term is the distance of a query's critic features
``D_i(x)`` to the nearest training image's. A density in the same space
weighs every direction by how much the normal data vary along it, which a
nearest-neighbour distance does not: the Mahalanobis distance to the
training features' mean (``gauss``; Ledoit-Wolf shrunk covariance), and the
class-conditional form of Lee et al. (2018), the smallest Mahalanobis
distance to the mean of any cluster the classifier routes training images
to, with one covariance shared by the clusters (``cluster gauss``).

The library has no such term: this script adds both to the ``codes`` group
of ``dev_protocol.py`` and runs it with the remaining arguments after ``--density 1`` (run it with
``--bank-groups codes``). The fits also save the critic's feature error
(``feature_mse``), so ``--summary`` lists each of the three terms alone, in
place of the latent term, and added to the library's default score at
:data:`ADDED_WEIGHTS`, every term divided by its spread on the training
images.

    python benchmarks/feature_density_screen.py --density 1 --dataset mnist --bank-groups codes \\
        --params '{"critic_snapshots": 4}' --budgets 24 --seeds 0 --out dev/mnist-density
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

sys.path.insert(0, str(Path(__file__).parent))
import dev_protocol  # noqa: E402

#: Weights of a density term added to the library's default score.
ADDED_WEIGHTS = (0.1, 0.25, 0.5)
DENSITY_TERMS = ("gauss", "cluster gauss", "feature_mse")

_code_terms = dev_protocol.code_terms
_code_scores = dev_protocol.code_scores


def gaussian_terms(train: np.ndarray, query: np.ndarray, clusters_train: np.ndarray) -> dict[str, np.ndarray]:
    """Mahalanobis distances of the rows of ``train`` and ``query`` (feature vectors) to the
    training rows' mean (``gauss``) and to the nearest mean of a training cluster
    (``clusters_train``) under the clusters' shared covariance (``cluster gauss``). The
    nearest mean, not the one a query is routed to: a query that fits no cluster is what
    the term is for."""
    terms = {}
    global_fit = LedoitWolf().fit(train)
    terms["gauss"] = (np.sqrt(global_fit.mahalanobis(train)), np.sqrt(global_fit.mahalanobis(query)))
    labels = np.unique(clusters_train)
    means = np.stack([train[clusters_train == k].mean(0) for k in labels])
    within = train - means[np.searchsorted(labels, clusters_train)]
    shared = LedoitWolf(assume_centered=True).fit(within)
    precision = shared.precision_

    def nearest(rows: np.ndarray) -> np.ndarray:
        distances = []
        for mean in means:
            centred = rows - mean
            distances.append(((centred @ precision) * centred).sum(1))
        return np.sqrt(np.min(distances, axis=0))

    terms["cluster gauss"] = (nearest(train), nearest(query))
    return terms


def code_terms_with_density(det, X_train, X_eval) -> dict[str, np.ndarray]:
    """``dev_protocol.code_terms`` and the two Gaussian terms of the critic's feature vectors."""
    terms = _code_terms(det, X_train, X_eval)
    vectors = {part: dev_protocol.feature_vectors(torch.from_numpy(det.critic_features(X)), None, "euclidean")
               .double().numpy() for part, X in (("train", X_train), ("eval", X_eval))}
    clusters = dev_protocol._routed_codes(det, X_train)[1].numpy()
    for name, (train, query) in gaussian_terms(vectors["train"], vectors["eval"], clusters).items():
        terms[f"train {name}"], terms[f"eval {name}"] = train, query
    return terms


def code_scores_with_density(saved) -> dict[str, np.ndarray]:
    """``dev_protocol.code_scores`` and the library's default score plus each density term."""
    scores = _code_scores(saved)
    terms = [t for t in DENSITY_TERMS if f"eval {t}" in saved]
    if not terms:
        return scores
    parts = ("train", "eval")
    default = dev_protocol.library_score(saved, {p: saved[f"{p} critic"] for p in parts},
                                         {p: saved[f"{p} {dev_protocol.LIBRARY_BANK}"] for p in parts})
    for term, scaled in zip(terms, dev_protocol.scaled_rows(saved, terms)["eval"]):
        for weight in ADDED_WEIGHTS:
            scores[f"{dev_protocol.LIBRARY_LABEL} + {weight:g} {term}"] = default + weight * scaled
    return scores


def patch(value: float) -> None:
    """Save and score the density terms from here on (``value=0``: nothing is patched)."""
    if not value:
        return
    dev_protocol.code_terms = code_terms_with_density
    dev_protocol.code_scores = code_scores_with_density
    dev_protocol.CODE_TERMS = (*dev_protocol.CODE_TERMS, *DENSITY_TERMS)


if __name__ == "__main__":
    dev_protocol.main_patched("--density", patch, __doc__.splitlines()[0])
