"""Anomaly score components and their combination (thesis section 5.4, eq. 5.1)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .nn import DAnoGANNetworks

__all__ = ["COMPONENTS", "score_components", "anomaly_score"]

#: The per-sample terms :func:`score_components` returns.
COMPONENTS = ("mse", "kl", "feature_mse", "cluster")


@torch.no_grad()
def score_components(nets: DAnoGANNetworks, x: Tensor) -> dict[str, Tensor]:
    """Per-sample anomaly terms of a query batch, in eval mode.

    Parameters
    ----------
    nets : DAnoGANNetworks
        Trained networks (BatchNorm must be in eval mode).
    x : Tensor of shape (n, ...)
        Queries scaled to the generators' [-1, 1] range.

    Returns
    -------
    dict of Tensor of shape (n,)
        ``mse``: mean squared error between query and reconstruction;
        ``kl``: ``KL(C(x) || C(x_hat))`` between the classifier's cluster
        distributions of query and reconstruction; ``feature_mse``: mean
        squared error between their critic features ``D_i``; ``cluster``:
        the cluster the query was routed to.
    """
    rec = nets.reconstruct(x)
    _, features_rec = nets.critic(rec.reconstruction)
    log_q = torch.log_softmax(rec.logits, dim=1)
    log_r = torch.log_softmax(nets.classifier(features_rec), dim=1)
    return {
        "mse": (x - rec.reconstruction).pow(2).flatten(1).mean(1),
        "kl": (log_q.exp() * (log_q - log_r)).sum(1),
        "feature_mse": (rec.features - features_rec).pow(2).flatten(1).mean(1),
        "cluster": rec.cluster,
    }


def anomaly_score(components: dict[str, np.ndarray], alpha: float) -> np.ndarray:
    """Eq. 5.1: ``A(x) = (1 - alpha) * mse + alpha * KL``; higher is more anomalous.

    Examples
    --------
    >>> anomaly_score({"mse": np.array([1.0, 0.0]), "kl": np.array([0.0, 2.0])}, 0.5)
    array([0.5, 1. ])
    """
    return (1.0 - alpha) * components["mse"] + alpha * components["kl"]
