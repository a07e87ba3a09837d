"""Screen of a self-supervised critic: the development protocol with a rotation task added.

The critic also learns which of four rotations (0, 90, 180, 270 degrees) a
real image was given, from a linear head on its last convolution's output,
as self-supervised GANs do (Chen et al., 2019): each critic step adds
``--rotation-weight`` times the head's cross entropy on the real batch, every
image turned by a random multiple of 90 degrees. Each fit also saves a
``rotation`` term, the head's mean cross entropy over the four rotations of a
query (how unpredictable its orientation is, as in Golan and El-Yaniv, 2018).
The library has no such setting: this script patches the critic and its
training step, then runs ``dev_protocol.py`` with the remaining arguments
(images only; run it with ``--bank-groups codes`` so that the fits save the
latent term too).

    python benchmarks/rotation_screen.py --rotation-weight 1 --dataset mnist \\
        --bank-groups codes --budgets 24 --seeds 0 --out dev/mnist-rotation
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import dev_protocol  # noqa: E402

from danogan_sk import nn as networks, training  # noqa: E402

#: (critic, neighbour, latent, rotation) weights of the sums scored beside the library's.
ROTATION_WEIGHTS = ((0.25, 0.55, 0.1, 0.1), (0.2, 0.45, 0.1, 0.25))
_critic_init = networks.ConvCritic.__init__
_critic_loss = training.critic_loss
_code_terms = dev_protocol.code_terms
_variant_scores = dev_protocol.variant_scores


def _init_with_head(self, spec) -> None:
    _critic_init(self, spec)
    self.rotation_head = nn.Linear(self.out.in_features, 4)


def rotation_logits(critic: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The head's logits of the four rotations, from the critic's last convolution."""
    hidden = F.leaky_relu(critic.body[-1](critic.features(x)), 0.2)
    return critic.rotation_head(hidden.flatten(1))


def rotated(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Each image of ``x`` turned by ``turns`` quarter turns."""
    out = torch.empty_like(x)
    for k in range(4):
        rows = turns == k
        out[rows] = torch.rot90(x[rows], k, dims=(2, 3))
    return out


def patch(weight: float, seed: int = 0) -> None:
    """Add the rotation head and loss to every critic built from here on."""
    draws = torch.Generator().manual_seed(seed)
    networks.ConvCritic.__init__ = _init_with_head

    def critic_loss_with_rotation(critic, real, fake, gp_weight, generator=None, *, eps=None):
        loss, wasserstein, penalty, real_features = _critic_loss(critic, real, fake, gp_weight, generator, eps=eps)
        turns = torch.randint(4, (real.shape[0],), generator=draws).to(real.device)
        rotation = F.cross_entropy(rotation_logits(critic, rotated(real, turns)), turns)
        return loss + weight * rotation, wasserstein, penalty, real_features

    # The training step calls the loss by its name in ``training``; the logged critic loss includes the term.
    training.critic_loss = critic_loss_with_rotation
    dev_protocol.code_terms = code_terms_with_rotation
    dev_protocol.variant_scores = variant_scores_with_rotation


def code_terms_with_rotation(det, X_train, X_eval) -> dict:
    """The ``codes`` group's terms and ``rotation``."""
    terms = _code_terms(det, X_train, X_eval)
    critic = det.networks_.critic

    def compute(batch):
        return torch.stack([
            F.cross_entropy(rotation_logits(critic, torch.rot90(batch, k, dims=(2, 3))),
                            torch.full((len(batch),), k, device=batch.device), reduction="none")
            for k in range(4)]).mean(0).cpu()

    with torch.no_grad():
        for part, X in (("train", X_train), ("eval", X_eval)):
            terms[f"{part} rotation"] = torch.cat(list(det._in_chunks(X, True, compute))).double().numpy()
    return terms


def variant_scores_with_rotation(saved, *args) -> dict:
    """``dev_protocol``'s variants, the ``rotation`` term alone and the sums of :data:`ROTATION_WEIGHTS`
    (each term divided by its spread on the training images)."""
    scores = _variant_scores(saved, *args)
    if "eval rotation" not in saved:
        return scores
    names = ("critic", "neighbor", "latent", "rotation")
    parts = {part: {"critic": saved[f"{part} critic"], "neighbor": saved[f"{part} {dev_protocol.LIBRARY_BANK}"],
                    "latent": saved[f"{part} latent"], "rotation": saved[f"{part} rotation"]}
             for part in ("train", "eval")}
    scaled = dev_protocol.scaled_terms(parts)
    scores["rotation"] = saved["eval rotation"]
    for weights in ROTATION_WEIGHTS:
        named = tuple(zip(weights, names))
        scores[dev_protocol._label(named)] = sum(w * scaled[t] for w, t in named)
    return scores


if __name__ == "__main__":
    dev_protocol.main_patched("--rotation-weight", patch, __doc__.splitlines()[0])
