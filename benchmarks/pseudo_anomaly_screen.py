"""Screen: choose between two score weightings per fit from pseudo-anomalies of the training data.

On the development protocol the patch term with the critic's weight kept
(critic 0.25, neighbour 0.3, latent 0.1, patch 0.35) gains on MNIST and loses on
Fashion-MNIST against the default (0.25, 0.65, 0.1, 0). This screen asks whether
a fitted detector can tell, from its normal training data alone, which of the
two suits the data: each group of training images in turn plays the anomaly.
Its images are taken out of the memory banks (the whole-map bank of the
neighbour term and the per-position bank of the patch term), a fixed sample of
training images (:data:`N_QUERIES`) is scored against the rest, and each
weighting's AUC of "this group against the other groups" is its pseudo-AUC.
The critic and latent terms stay as fitted (both weightings weigh them alike).
A fit takes the patch weighting when its mean pseudo-AUC over the groups is
larger (or at most :data:`MARGINS` smaller). Groups (:data:`SCHEMES`): the classifier's clusters, and k-means
clusters of the training images' ``D_i`` vectors (10 and 20 of them).

The neighbour term here is the bank's distance without the one-pixel moves of
the library's ``neighbor_shift=1`` (moving every training image in and out of
the bank would cost five times the searches); in the scores of the evaluation
rows each weighting uses the library's terms, as ``dev_protocol.py`` does.

It patches ``dev_protocol.py`` (run it with ``--bank-groups codes patches``
after ``--pseudo 1``); ``--summary`` lists ``auto [<scheme>]``, the weighting each
fit chose, beside the two weightings.

    python benchmarks/pseudo_anomaly_screen.py --pseudo 1 --dataset mnist --bank-groups codes patches \\
        --params '{"critic_snapshots": 4, "n_epochs": 6, "xzx_epochs": 1}' --seeds 0 --out dev/mnist-pseudo
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans

sys.path.insert(0, str(Path(__file__).parent))
import dev_protocol  # noqa: E402

from danogan_sk.pseudo_anomalies import WEIGHTING_PARAMS as _WEIGHTS, group_aucs, left_out_distances  # noqa: E402

#: Training images scored as pseudo-anomalies or pseudo-normal ones (a fixed random sample).
N_QUERIES = 2000
#: A group is a pseudo-anomaly only with at least this many sampled images.
MIN_GROUP = 20
#: Grouping schemes: name -> number of k-means clusters of the ``D_i`` vectors (0: the classifier's).
SCHEMES = {"classifier": 0, "kmeans 10": 10, "kmeans 20": 20}
#: A fit takes the patch weighting when its mean pseudo-AUC exceeds the default's by more than
#: the margin: ``auto [<scheme>]`` at 0, ``auto [<scheme>] margin <m>`` at the others (the
#: classifier's clusters only).
MARGINS = (0.0, -0.005, 0.005, 0.01, 0.02)
#: The two (critic, neighbour, latent, patch) weightings the fits choose between.
DEFAULT_SHARES = (*dev_protocol.DEFAULT_WEIGHTS, 0.0)
PATCH_SHARES = dev_protocol.PATCH_SHARES[1]

_code_terms = dev_protocol.code_terms
_patch_terms = dev_protocol.patch_terms
_patch_scores = dev_protocol.patch_scores
_stash: dict = {}


def code_terms_with_clusters(det, X_train, X_eval) -> dict[str, np.ndarray]:
    """``dev_protocol.code_terms``, keeping the training images' clusters for :func:`pseudo_terms`."""
    _stash["clusters"] = dev_protocol._routed_codes(det, X_train)[1].numpy()
    return _code_terms(det, X_train, X_eval)


def pseudo_terms(features: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """``dev_protocol.patch_terms`` and, for every scheme of :data:`SCHEMES`, the sampled
    training images' neighbour and patch distances with each group left out of the banks."""
    terms = _patch_terms(features)
    train = features["train"]
    n = len(train)
    queries = np.sort(np.random.default_rng(0).choice(n, size=min(N_QUERIES, n), replace=False))
    vectors = dev_protocol.feature_vectors(train, None, "euclidean")
    labels = {"classifier": _stash.pop("clusters")}
    for name, k in SCHEMES.items():
        if k:
            labels[name] = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(vectors.numpy())
    terms["pseudo queries"] = queries
    for name, lab in labels.items():
        # The library's search, as pseudo_anomaly_aucs runs it (the bank's default metric, no pooling).
        distances = left_out_distances(train.numpy(), lab, queries, None, "euclidean", patches=True)
        terms[f"pseudo labels [{name}]"] = lab
        terms[f"pseudo neighbor [{name}]"] = distances["neighbor"].float().numpy()
        terms[f"pseudo patch [{name}]"] = distances["patch"].float().numpy()
    return terms


def pseudo_aucs(saved, scheme: str) -> tuple[float, float]:
    """Mean over the scheme's groups of the default and the patch weighting's pseudo-AUC
    (NaN when fewer than two groups can be scored)."""
    queries = saved["pseudo queries"]
    labels = saved[f"pseudo labels [{scheme}]"]
    fixed = {t: saved[f"train {t}"][queries] for t in ("critic", "latent")}
    left_out = {t: torch.from_numpy(saved[f"pseudo {t} [{scheme}]"]) for t in ("neighbor", "patch")}
    weightings = [dict(zip(_WEIGHTS, (0.0, *shares))) for shares in (DEFAULT_SHARES, PATCH_SHARES)]
    try:
        aucs = group_aucs(fixed, left_out, np.unique(labels), labels[queries], weightings, MIN_GROUP, True)
    except ValueError:
        return np.nan, np.nan
    return tuple(aucs.mean(0))


def pseudo_scores(saved) -> dict[str, np.ndarray]:
    """``dev_protocol.patch_scores`` and, per scheme, the weighting its pseudo-AUCs choose."""
    scores = _patch_scores(saved)
    shares_label = dev_protocol._label(tuple(zip(PATCH_SHARES, ("critic", "neighbor", "latent", "patch"))))
    patch_key = f"{shares_label} [{dev_protocol.PATCH_TERM}]"
    if patch_key not in scores or "pseudo queries" not in saved:
        return scores
    default = dev_protocol.library_score(saved, {p: saved[f"{p} critic"] for p in ("train", "eval")},
                                         {p: saved[f"{p} {dev_protocol.LIBRARY_BANK}"] for p in ("train", "eval")})
    for scheme in SCHEMES:
        auc_default, auc_patch = pseudo_aucs(saved, scheme)
        for margin in MARGINS if scheme == "classifier" else MARGINS[:1]:
            name = f"auto [{scheme}]" + (f" margin {margin:g}" if margin else "")
            scores[name] = scores[patch_key] if auc_patch - auc_default > margin else default
    return scores


def patch(value: float) -> None:
    """Save and score the pseudo-anomaly terms from here on (``value=0``: nothing is patched)."""
    if not value:
        return
    dev_protocol.code_terms = code_terms_with_clusters
    dev_protocol.patch_terms = pseudo_terms
    dev_protocol.patch_scores = pseudo_scores


if __name__ == "__main__":
    dev_protocol.main_patched("--pseudo", patch, __doc__.splitlines()[0])
