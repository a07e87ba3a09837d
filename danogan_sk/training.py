"""Training of the D-AnoGAN networks: the two phases, their losses and history.

Phase 1 (thesis appendix A): for every mini-batch, one critic step; every
``n_critic`` critic steps, one update of the generators, encoders, classifier
and bandit. Phase 2 ("xzx", thesis section 4.2): generators, critic and
classifier frozen, the encoders learn to reconstruct real data.

This module knows nothing of scikit-learn: it takes a float tensor already
scaled to the generators' [-1, 1] range and returns trained weights.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .nn import DAnoGANNetworks, NetworkSpec, build_networks

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "critic_loss",
    "gradient_penalty",
    "bandit_loss",
    "entropy_weight_at",
    "fit_networks",
]

#: Number of real samples whose reconstruction error is logged every epoch.
_MONITOR_SIZE = 256


@dataclass(frozen=True)
class TrainingConfig:
    """Every setting that changes the trained weights (see ``DAnoGANDetector``)."""

    n_epochs: int = 10
    xzx_epochs: int = 2
    batch_size: int = 64
    n_critic: int = 5
    lr_generator: float = 2e-4
    lr_critic: float = 2e-4
    lr_encoder: float = 1e-3
    lr_classifier: float = 2e-4
    lr_bandit: float = 1e-3
    lr_xzx: float = 1e-3
    gp_weight: float = 10.0
    classifier_weight: float = 1.0
    bandit: bool = True
    entropy_weight: float = 1000.0
    entropy_decay: float | str = "auto"


@dataclass
class TrainingResult:
    """Trained weights (CPU tensors) and the per-epoch record of training."""

    state_dict: dict[str, Tensor]
    history: dict[str, np.ndarray]


def _interpolates(real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    """``eps * real + (1 - eps) * fake`` with one ``eps ~ U(0, 1)`` per sample."""
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)
    return eps * real + (1 - eps) * fake


def _one_sided_penalty(input_grad: Tensor) -> Tensor:
    norm = input_grad.flatten(1).norm(2, dim=1)
    return F.relu(norm - 1).pow(2).mean()


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    """One-sided gradient penalty ``E[max(0, ||grad D(x_t)|| - 1)^2]`` on random interpolates.

    ``x_t = eps * real + (1 - eps) * fake`` with one ``eps ~ U(0, 1)`` per
    sample. The penalty only punishes gradients steeper than 1 (DM-GAN's and
    the thesis code's choice; the thesis text describes the two-sided form).
    This is the plain autograd formulation (a double backward); training
    uses the critic's explicit input gradient when it has one.
    """
    interpolates = _interpolates(real, fake, generator).requires_grad_(True)
    value, _ = critic(interpolates)
    (grad,) = torch.autograd.grad(value.sum(), interpolates, create_graph=True)
    return _one_sided_penalty(grad)


def critic_loss(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    gp_weight: float,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Critic loss ``E[D(x_hat)] - E[D(x)] + gp_weight * GP`` (eq. 4.4 with its sign fixed).

    Real and fake samples go through the critic in one batch (the critic has
    no batch statistics, so this is the same function, computed once). A
    critic with an ``input_gradient`` method gives the penalty's gradient
    written out explicitly; any other critic gets the penalty from
    :func:`gradient_penalty`. Both draw the same random numbers.

    Returns
    -------
    loss, wasserstein, penalty : Tensor
        The loss, the Wasserstein estimate ``E[D(x)] - E[D(x_hat)]`` and the
        gradient penalty.
    real_features : Tensor
        ``D_i(x)`` of the real batch, detached, for the bandit's estimate.
    """
    n_real, n_fake = real.shape[0], fake.shape[0]
    values, features = critic(torch.cat([real, fake]))
    value_real, value_fake = values.split([n_real, n_fake])
    if hasattr(critic, "input_gradient"):
        penalty = _one_sided_penalty(critic.input_gradient(_interpolates(real, fake, generator)))
    else:
        penalty = gradient_penalty(critic, real, fake, generator)
    wasserstein = value_real.mean() - value_fake.mean()
    loss = -wasserstein + gp_weight * penalty
    return loss, wasserstein.detach(), penalty.detach(), features[:n_real].detach()


def entropy_weight_at(step: int, config: TrainingConfig, total_steps: int) -> float:
    """The weight ``nu * beta**t`` of the bandit's entropy term at bandit step ``t``.

    With ``entropy_decay="auto"``, ``beta`` is set from the planned number of
    bandit steps so that the weight falls from ``entropy_weight`` to 1 half way
    through phase 1, whatever the length of training; the thesis's fixed
    ``beta = 0.999`` keeps the prior uniform for thousands of steps, longer
    than a short CPU run lasts.
    """
    if config.entropy_decay == "auto":
        half = max(total_steps / 2, 1.0)
        decay = math.exp(-math.log(max(config.entropy_weight, 1.0 + 1e-12)) / half)
    else:
        decay = float(config.entropy_decay)
    return config.entropy_weight * decay**step


def bandit_loss(logits: Tensor, real_cluster_probs: Tensor, entropy_weight: float) -> Tensor:
    """Bandit loss (eq. 4.2): ``CE(p, q) - entropy_weight * H(p)``.

    ``p = softmax(logits)`` is the prior and ``q`` the classifier's mean
    cluster probabilities on a real batch; the cross entropy pulls the prior
    towards ``q`` and the entropy term keeps it spread early in training.
    """
    log_p = torch.log_softmax(logits, dim=0)
    cross_entropy = -(real_cluster_probs * log_p).sum()
    entropy = -(log_p.exp() * log_p).sum()
    return cross_entropy - entropy_weight * entropy


def _adam(params, lr: float, betas: tuple[float, float], weight_decay: float = 0.0) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)


class _Optimizers:
    """The thesis's Adam settings (appendix B), one optimizer per part."""

    def __init__(self, nets: DAnoGANNetworks, config: TrainingConfig) -> None:
        self.generator = _adam(nets.generators.parameters(), config.lr_generator, (0.9, 0.99), 5e-5)
        self.critic = _adam(nets.critic.parameters(), config.lr_critic, (0.5, 0.5))
        self.encoder = _adam(nets.encoders.parameters(), config.lr_encoder, (0.5, 0.5))
        self.classifier = _adam(nets.classifier.parameters(), config.lr_classifier, (0.9, 0.99))
        self.bandit = _adam([nets.bandit_logits], config.lr_bandit, (0.5, 0.5))


def _step(optimizer: torch.optim.Optimizer, params: list[Tensor], grads: tuple[Tensor, ...]) -> None:
    for param, grad in zip(params, grads):
        param.grad = grad
    optimizer.step()


class _EpochLog:
    """Running sums of detached losses; read once per epoch to avoid host syncs per step."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, **values: Tensor) -> None:
        for name, value in values.items():
            value = value.detach()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
            self.counts[name] += 1

    def means(self) -> dict[str, float]:
        return {name: float(total) / self.counts[name] for name, total in self.sums.items()}


class _Progress:
    """``verbose=1``: a tqdm bar per phase; ``verbose=2``: one line per epoch."""

    def __init__(self, verbose: int, total: int, phase: str) -> None:
        self.verbose = verbose
        self.phase = phase
        self.bar = None
        if verbose == 1 and total > 0:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=phase, unit="epoch", leave=False)

    def epoch(self, epoch: int, total: int, record: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in record.items()}, refresh=False)
            self.bar.update(1)
        elif self.verbose >= 2:
            values = " ".join(f"{k}={v:.4g}" for k, v in record.items())
            print(f"[{self.phase}] epoch {epoch + 1}/{total} {values}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_finite(record: dict[str, float], phase: str, epoch: int) -> None:
    for name, value in record.items():
        if not math.isfinite(value):
            raise FloatingPointError(
                f"Training diverged in {phase}, epoch {epoch + 1}: {name} = {value}. "
                "Try a smaller learning rate or a larger gp_weight."
            )


@torch.no_grad()
def reconstruction_error(nets: DAnoGANNetworks, x: Tensor) -> float:
    """Mean squared reconstruction error ``mean (x - G_k(E_k(x)))^2`` on ``x``, in eval mode."""
    was_training = nets.training
    nets.eval()
    error = (nets.reconstruct(x).reconstruction - x).pow(2).mean()
    nets.train(was_training)
    return float(error)


def _batches(n_samples: int, batch_size: int, generator: torch.Generator, device: torch.device):
    """Shuffled full batches of indices; the last partial batch is dropped, as in the thesis."""
    order = torch.randperm(n_samples, generator=generator, device=device)
    n_batches = n_samples // batch_size
    return order[: n_batches * batch_size].view(n_batches, batch_size)


def _phase1_step(
    nets: DAnoGANNetworks,
    opt: _Optimizers,
    real: Tensor,
    config: TrainingConfig,
    generator: torch.Generator,
    update_others: bool,
    entropy_weight: float,
    log: _EpochLog,
) -> None:
    batch = real.shape[0]
    cluster = torch.multinomial(nets.prior().detach(), batch, replacement=True, generator=generator)
    z = torch.rand(batch, nets.spec.latent_dim, generator=generator, device=real.device, dtype=real.dtype)
    z = z * 2 - 1
    # Critic-only steps need no graph through the generators.
    with torch.set_grad_enabled(update_others):
        fake = nets.generate(z, cluster)

    loss_d, wasserstein, penalty, real_features = critic_loss(
        nets.critic, real, fake.detach(), config.gp_weight, generator
    )
    opt.critic.zero_grad(set_to_none=True)
    loss_d.backward()
    opt.critic.step()
    log.add(critic_loss=loss_d, wasserstein=wasserstein, gradient_penalty=penalty)
    if not update_others:
        return

    # Generators and classifier share one forward through the updated critic.
    value_fake, features_fake = nets.critic(fake)
    cross_entropy = F.cross_entropy(nets.classifier(features_fake), cluster)
    loss_g = -value_fake.mean() + config.classifier_weight * cross_entropy
    gen_params = list(nets.generators.parameters())
    cls_params = list(nets.classifier.parameters())
    grads_g = torch.autograd.grad(loss_g, gen_params, retain_graph=True, allow_unused=True)
    grads_c = torch.autograd.grad(cross_entropy, cls_params)
    _step(opt.generator, gen_params, grads_g)
    _step(opt.classifier, cls_params, grads_c)

    # The encoders learn z -> G_k(z) -> z; their gradient does not involve G.
    loss_e = (nets.encode(fake.detach(), cluster) - z).pow(2).mean()
    opt.encoder.zero_grad(set_to_none=True)
    loss_e.backward()
    opt.encoder.step()
    log.add(generator_loss=loss_g, encoder_loss=loss_e, classifier_loss=cross_entropy)

    if config.bandit:
        # The prior is pulled towards the classifier's mean prediction on real
        # data, with BatchNorm in eval mode so real batches do not mix into
        # the statistics of the fake batches the classifier trains on.
        with torch.no_grad():
            nets.classifier.eval()
            real_probs = torch.softmax(nets.classifier(real_features), dim=1).mean(0)
            nets.classifier.train()
        loss_b = bandit_loss(nets.bandit_logits, real_probs, entropy_weight)
        opt.bandit.zero_grad(set_to_none=True)
        loss_b.backward()
        opt.bandit.step()
        log.add(bandit_loss=loss_b)


def _train_phase1(
    nets: DAnoGANNetworks,
    X: Tensor,
    monitor: Tensor,
    config: TrainingConfig,
    generator: torch.Generator,
    history: dict[str, list],
    verbose: int,
) -> None:
    opt = _Optimizers(nets, config)
    batch_size = min(config.batch_size, X.shape[0])
    n_batches = X.shape[0] // batch_size
    total_bandit_steps = math.ceil(config.n_epochs * n_batches / config.n_critic)
    progress = _Progress(verbose, config.n_epochs, "phase 1")
    step = bandit_step = 0
    nets.train()
    try:
        for epoch in range(config.n_epochs):
            log = _EpochLog()
            for indices in _batches(X.shape[0], batch_size, generator, X.device):
                update_others = step % config.n_critic == 0
                weight = entropy_weight_at(bandit_step, config, total_bandit_steps)
                _phase1_step(nets, opt, X[indices], config, generator, update_others, weight, log)
                bandit_step += update_others
                step += 1
            record = log.means()
            record["reconstruction_error"] = reconstruction_error(nets, monitor)
            record["entropy_weight"] = entropy_weight_at(bandit_step, config, total_bandit_steps)
            _check_finite(record, "phase 1", epoch)
            for name, value in record.items():
                history[name].append(value)
            history["bandit_probabilities"].append(nets.prior().detach().cpu().numpy())
            progress.epoch(epoch, config.n_epochs, record)
    finally:
        progress.close()


def _train_xzx(
    nets: DAnoGANNetworks,
    X: Tensor,
    config: TrainingConfig,
    generator: torch.Generator,
    history: dict[str, list],
    verbose: int,
) -> None:
    # Generators, critic and classifier are frozen; gradients still flow
    # through the generators to the encoders.
    frozen = [nets.generators, nets.critic, nets.classifier]
    for module in frozen:
        module.requires_grad_(False)
        module.eval()
    optimizer = _adam(nets.encoders.parameters(), config.lr_xzx, (0.5, 0.5))
    batch_size = min(config.batch_size, X.shape[0])
    progress = _Progress(verbose, config.xzx_epochs, "xzx")
    try:
        for epoch in range(config.xzx_epochs):
            log = _EpochLog()
            for indices in _batches(X.shape[0], batch_size, generator, X.device):
                real = X[indices]
                with torch.no_grad():
                    cluster = nets.classifier(nets.critic(real)[1]).argmax(dim=1)
                reconstruction = nets.generate(nets.encode(real, cluster), cluster)
                loss = (reconstruction - real).pow(2).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                log.add(xzx_loss=loss)
            record = log.means()
            _check_finite(record, "xzx", epoch)
            history["xzx_loss"].append(record["xzx_loss"])
            progress.epoch(epoch, config.xzx_epochs, record)
    finally:
        progress.close()
        for module in frozen:
            module.requires_grad_(True)


def fit_networks(
    X: np.ndarray,
    spec: NetworkSpec,
    config: TrainingConfig,
    seed: int,
    device: str = "cpu",
    verbose: int = 0,
) -> TrainingResult:
    """Train D-AnoGAN networks on ``X`` (both phases) and return their weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, *spec.input_shape), float32
        Training data scaled to [-1, 1].
    spec : NetworkSpec
        The architecture.
    config : TrainingConfig
        The training settings.
    seed : int
        Seed of the local generators used for weights, batches and sampling;
        torch's and numpy's global random states are not touched.
    device : str
        Torch device to train on.
    verbose : int
        0 silent, 1 a progress bar per phase, 2 a line per epoch.

    Returns
    -------
    TrainingResult
        The trained weights as CPU tensors, and ``history``: one entry per
        epoch for ``critic_loss``, ``wasserstein``, ``gradient_penalty``,
        ``generator_loss``, ``encoder_loss``, ``classifier_loss``,
        ``bandit_loss`` (if the bandit is trained), ``reconstruction_error``
        (of up to 256 training samples), ``entropy_weight``,
        ``bandit_probabilities`` (n_epochs, n_generators), and ``xzx_loss``
        per xzx epoch.
    """
    device = torch.device(device)
    nets = build_networks(spec, seed, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    data = torch.as_tensor(X, dtype=torch.float32, device=device)
    monitor_rows = torch.randperm(data.shape[0], generator=generator, device=device)[:_MONITOR_SIZE]
    monitor = data[monitor_rows]
    history: dict[str, list] = defaultdict(list)
    _train_phase1(nets, data, monitor, config, generator, history, verbose)
    history["reconstruction_error_before_xzx"].append(reconstruction_error(nets, monitor))
    _train_xzx(nets, data, config, generator, history, verbose)
    history["reconstruction_error_after_xzx"].append(reconstruction_error(nets, monitor))
    nets.eval()
    state = {name: tensor.detach().cpu().clone() for name, tensor in nets.state_dict().items()}
    return TrainingResult(state, {name: np.asarray(values) for name, values in history.items()})


def config_as_dict(config: TrainingConfig) -> dict:
    """The settings as a plain dict (for records and cache keys)."""
    return asdict(config)
