"""Fit a tiny detector in every process of ``torchrun``; each saves what it ended with.

Usage: ``torchrun --nproc_per_node=K tests/_ddp_fit.py OUT_FOLDER``. Every
process fits on the same data (:func:`data`, with :data:`PARAMS`) after
joining the gloo group, and saves its networks, history and scores to
``OUT_FOLDER/rank<R>.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from danogan_sk import DAnoGANDetector

#: Several generator updates, the bandit and both phases, at a batch every share divides;
#: with 4 generators and 8 rows a share, some generator is missing from some share.
#: The phase-1 reconstruction term is on, so that its routed gradients are averaged too, and the
#: critic's augmentation, so that each process moves its share of the images as one process would.
PARAMS = dict(n_generators=4, latent_dim=3, n_epochs=2, xzx_epochs=1, batch_size=16, n_critic=2,
              base_channels=4, max_channels=8, memory_bank_size=0, neighbor_weight=0.0, latent_weight=0.0,
              device="cpu",
              reconstruction_weight=1.0, augment_shift=2, random_state=0)


def data() -> np.ndarray:
    """64 small images of two brightness levels: two manifolds."""
    rng = np.random.default_rng(0)
    level = rng.integers(0, 2, 64)[:, None, None, None] * 0.6 + 0.2
    return np.clip(level + 0.05 * rng.normal(size=(64, 1, 16, 16)), 0, 1).astype(np.float32)


def fitted_state(detector: DAnoGANDetector) -> dict:
    """What two fits are compared on."""
    return {
        "networks": {k: v.detach().clone() for k, v in detector.networks_.state_dict().items()},
        "history": {k: np.asarray(v) for k, v in detector.history_.items()},
        "scores": detector.score_samples(data()),
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    try:
        detector = DAnoGANDetector(**PARAMS).fit(data())
        rank = torch.distributed.get_rank()
        torch.save(fitted_state(detector), Path(sys.argv[1]) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()
