"""Every loss of D-AnoGAN's two training phases, each with its equation.

Phase 1 (thesis chapter 4.1, appendix A) trains five parts against four
losses: the critic's (:func:`critic_loss`, with :func:`gradient_penalty`),
the generators' (:func:`generator_loss`), the encoders'
(:func:`encoder_loss`), the classifier's (:func:`classifier_loss`) and the
bandit's (:func:`bandit_loss`). Phase 2 ("xzx", thesis section 4.2) trains
the encoders alone against :func:`xzx_loss`.

The functions take network outputs (or the critic itself, where the loss
needs its input gradient) and return scalar tensors; they draw random
numbers only from a generator passed in, and change nothing. Which network
is updated with which loss, and in what order, is :mod:`danogan_sk.training`'s.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "interpolation_weights",
    "gradient_penalty",
    "critic_loss",
    "classifier_loss",
    "generator_loss",
    "encoder_loss",
    "bandit_loss",
    "xzx_loss",
]


def interpolation_weights(real: Tensor, generator: torch.Generator) -> Tensor:
    """One ``eps ~ U(0, 1)`` per sample of ``real``, shaped to broadcast over it."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    return torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)


def _interpolates(real: Tensor, fake: Tensor, generator: torch.Generator | None, eps: Tensor | None) -> Tensor:
    """``eps * real + (1 - eps) * fake``; ``eps`` is drawn from ``generator`` when not given."""
    if eps is None:
        if generator is None:
            raise ValueError("Pass a random generator or the interpolation weights eps.")
        eps = interpolation_weights(real, generator)
    return eps * real + (1 - eps) * fake


def _one_sided_penalty(input_grad: Tensor) -> Tensor:
    """``mean max(0, ||g|| - 1)^2`` over the per-sample gradients ``g``."""
    norm = input_grad.flatten(1).norm(2, dim=1)
    return F.relu(norm - 1).pow(2).mean()


def gradient_penalty(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
    *,
    eps: Tensor | None = None,
) -> Tensor:
    """One-sided gradient penalty ``GP = E[max(0, ||grad_x D(x_t)|| - 1)^2]``.

    ``x_t = eps * real + (1 - eps) * fake`` with one ``eps ~ U(0, 1)`` per
    sample, drawn from ``generator`` unless ``eps`` (shape ``(n, 1, ...)``)
    is given. The penalty only punishes gradients steeper than 1 (DM-GAN's
    and the thesis code's choice; the thesis text describes the two-sided
    form). This is the reference formulation, autograd's double backward;
    :func:`critic_loss` uses the critic's explicit ``input_gradient`` when
    it has one, a speed path tested against this function.
    """
    interpolates = _interpolates(real, fake, generator, eps).requires_grad_(True)
    value, _ = critic(interpolates)
    (grad,) = torch.autograd.grad(value.sum(), interpolates, create_graph=True)
    return _one_sided_penalty(grad)


def critic_loss(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    gp_weight: float,
    generator: torch.Generator | None = None,
    *,
    eps: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Critic loss ``L_D = E[D(x_hat)] - E[D(x)] + gp_weight * GP`` (eq. 4.4 with its sign fixed).

    Real and fake samples go through the critic in one batch (the critic has
    no batch statistics, so this is the same function, computed once). A
    critic with an ``input_gradient`` method gives the penalty's gradient
    written out explicitly; any other critic gets the penalty from
    :func:`gradient_penalty`. Both use the same interpolation weights:
    ``eps`` if given, else drawn from ``generator``.

    Returns
    -------
    loss, wasserstein, penalty : Tensor
        The loss, the Wasserstein estimate ``E[D(x)] - E[D(x_hat)]`` and the
        gradient penalty (the last two detached).
    real_features : Tensor
        ``D_i(x)`` of the real batch, detached, for the bandit's estimate.
    """
    n_real, n_fake = real.shape[0], fake.shape[0]
    values, features = critic(torch.cat([real, fake]))
    value_real, value_fake = values.split([n_real, n_fake])
    if hasattr(critic, "input_gradient"):
        penalty = _one_sided_penalty(critic.input_gradient(_interpolates(real, fake, generator, eps)))
    else:
        penalty = gradient_penalty(critic, real, fake, generator, eps=eps)
    wasserstein = value_real.mean() - value_fake.mean()
    loss = -wasserstein + gp_weight * penalty
    return loss, wasserstein.detach(), penalty.detach(), features[:n_real].detach()


def classifier_loss(logits: Tensor, cluster: Tensor) -> Tensor:
    """Classifier loss ``L_C = CE(C(D_i(G_k(z))), k)``: recognise which generator drew each fake.

    ``logits`` are the classifier's outputs on fakes, ``cluster`` the
    generator ``k`` of each (mean cross entropy over the batch).
    """
    return F.cross_entropy(logits, cluster)


def generator_loss(fake_values: Tensor, cross_entropy: Tensor, classifier_weight: float) -> Tensor:
    """Generator loss ``L_G = -E[D(G_k(z))] + lambda * L_C`` (thesis eq. 4.5).

    The Wasserstein term makes fakes look real to the critic; the
    classification term (``lambda = classifier_weight``, ``L_C`` from
    :func:`classifier_loss`) makes each generator's fakes recognisably its
    own, which pushes the generators onto different manifolds.
    """
    return -fake_values.mean() + classifier_weight * cross_entropy


def encoder_loss(latent: Tensor, z: Tensor) -> Tensor:
    """Phase-1 encoder loss ``L_E = mean (E_k(G_k(z)) - z)^2``: invert each generator on its fakes.

    ``latent`` is ``E_k`` applied to detached fakes, so the gradient reaches
    the encoders only.
    """
    return (latent - z).pow(2).mean()


def bandit_loss(logits: Tensor, real_cluster_probs: Tensor, entropy_weight: float) -> Tensor:
    """Bandit loss (eq. 4.2): ``L_B = CE(p, q) - nu * H(p)``.

    ``p = softmax(logits)`` is the prior and ``q`` the classifier's mean
    cluster probabilities on a real batch; the cross entropy
    ``-sum q log p`` pulls the prior towards ``q`` and the entropy term
    ``H(p) = -sum p log p``, weighted by ``nu = entropy_weight``, keeps it
    spread early in training.
    """
    log_p = torch.log_softmax(logits, dim=0)
    cross_entropy = -(real_cluster_probs * log_p).sum()
    entropy = -(log_p.exp() * log_p).sum()
    return cross_entropy - entropy_weight * entropy


def xzx_loss(reconstruction: Tensor, real: Tensor) -> Tensor:
    """Phase-2 loss ``L_xzx = mean (G_k(E_k(x)) - x)^2`` on real data (thesis section 4.2).

    ``k`` is the classifier's cluster of ``x``; the generators are frozen,
    so the gradient flows through ``G_k`` into the encoder ``E_k`` only.
    Phase 1 adds the same loss, weighted by ``reconstruction_weight``, to
    the generators' and encoders' losses, where it trains both.
    """
    return (reconstruction - real).pow(2).mean()
