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
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.graph import increment_version
from torch.nn import functional as F

from . import distributed as ddp
from .checkpoint import CheckpointError, load_checkpoint, run_fingerprint, save_checkpoint
from .nn import DAnoGANNetworks, NetworkSpec, build_networks, contiguous_state, to_fast_layout

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


def _interpolation_weights(real: Tensor, generator: torch.Generator) -> Tensor:
    """One ``eps ~ U(0, 1)`` per sample of ``real``, shaped to broadcast over it."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    return torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)


def _interpolates(real: Tensor, fake: Tensor, generator: torch.Generator | None, eps: Tensor | None) -> Tensor:
    """``eps * real + (1 - eps) * fake``; ``eps`` is drawn from ``generator`` when not given."""
    if eps is None:
        if generator is None:
            raise ValueError("Pass a random generator or the interpolation weights eps.")
        eps = _interpolation_weights(real, generator)
    return eps * real + (1 - eps) * fake


def _one_sided_penalty(input_grad: Tensor) -> Tensor:
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
    """One-sided gradient penalty ``E[max(0, ||grad D(x_t)|| - 1)^2]`` on random interpolates.

    ``x_t = eps * real + (1 - eps) * fake`` with one ``eps ~ U(0, 1)`` per
    sample, drawn from ``generator`` unless ``eps`` (shape ``(n, 1, ...)``)
    is given. The penalty only punishes gradients steeper than 1 (DM-GAN's
    and the thesis code's choice; the thesis text describes the two-sided
    form). This is the plain autograd formulation (a double backward);
    training uses the critic's explicit input gradient when it has one.
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
    """Critic loss ``E[D(x_hat)] - E[D(x)] + gp_weight * GP`` (eq. 4.4 with its sign fixed).

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
        gradient penalty.
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


#: Devices whose fused Adam kernel torch provides for every floating dtype used here.
_FUSED_ADAM_DEVICES = ("cpu", "cuda")


def _adam(params, lr: float, betas: tuple[float, float], weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with the thesis's settings; fused into one kernel where torch has one.

    The fused kernel applies the same update as the per-parameter loop
    (equal up to rounding) but in one call for all tensors: the generators
    and encoders hold ``16 * n_generators`` tensors, and their loop of small
    operations took over three times longer (measured at 15 generators).
    The fused kernel walks each parameter's memory in order and assumes its
    gradient and state do the same, so every step goes through :func:`_step`.
    """
    params = list(params)
    fused = bool(params) and all(p.device.type in _FUSED_ADAM_DEVICES for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)


class _Optimizers:
    """The thesis's Adam settings (appendix B), one optimizer per part."""

    NAMES = ("generator", "critic", "encoder", "classifier", "bandit")

    def __init__(self, nets: DAnoGANNetworks, config: TrainingConfig) -> None:
        self.generator = _adam(nets.generators.parameters(), config.lr_generator, (0.9, 0.99), 5e-5)
        self.critic = _adam(nets.critic.parameters(), config.lr_critic, (0.5, 0.5))
        self.encoder = _adam(nets.encoders.parameters(), config.lr_encoder, (0.5, 0.5))
        self.classifier = _adam(nets.classifier.parameters(), config.lr_classifier, (0.9, 0.99))
        self.bandit = _adam([nets.bandit_logits], config.lr_bandit, (0.5, 0.5))


def _in_layout_of(tensor: Tensor, param: Tensor) -> Tensor:
    """``tensor`` with the memory order of ``param``; a copy only when they differ.

    Strides of size-1 dimensions do not change the order, so they are ignored.
    """
    if all(a == b for a, b, size in zip(tensor.stride(), param.stride(), param.shape) if size > 1):
        return tensor
    return torch.empty_like(param).copy_(tensor)


def _step(
    optimizer: torch.optim.Optimizer, params: Sequence[Tensor] = (), grads: Sequence[Tensor | None] = ()
) -> None:
    """``optimizer.step()``, after setting ``params``' gradients to ``grads``.

    Gradients from ``torch.autograd.grad`` can have other strides than their
    parameter (a transposed matrix), and torch 2.13's fused CPU Adam then
    silently pairs the wrong elements (measured: a 4x6 parameter with a
    transposed gradient moved 4e-4 away from the per-parameter loop's
    result). Each gradient is given its parameter's memory order first.
    """
    for param, grad in zip(params, grads):
        param.grad = grad
    stepped = []
    for group in optimizer.param_groups:
        for param in group["params"]:
            if param.grad is not None:
                param.grad = _in_layout_of(param.grad, param)
                stepped.append(param)
    optimizer.step()
    if optimizer.defaults.get("fused"):
        # The fused kernel writes the parameters without bumping their
        # version counters, which the generators' sub-pixel weight cache
        # (and autograd's own checks) rely on to see in-place changes.
        increment_version(stepped)


def _load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict(state)``, each moment in its parameter's memory order (see :func:`_step`).

    A checkpoint saved from networks in another layout (another device)
    would otherwise pair moments and parameters element by element wrongly.
    """
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        for param in group["params"]:
            moments = optimizer.state.get(param, {})
            for key, value in moments.items():
                if isinstance(value, Tensor) and value.shape == param.shape:
                    moments[key] = _in_layout_of(value, param)


class _EpochLog:
    """Running sums of detached losses, read once per epoch.

    With ``check_each_step`` a non-finite loss raises at the step it
    appears; otherwise (accelerators, where reading a value back syncs the
    host) it is caught when the epoch's means are read.
    """

    def __init__(self, check_each_step: bool = False) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.check_each_step = check_each_step

    def add(self, **values: Tensor) -> None:
        for name, value in values.items():
            value = value.detach()
            if self.check_each_step and not torch.isfinite(value):
                raise FloatingPointError(
                    f"{name} = {float(value)} at step {self.counts[name] + 1} of the epoch"
                )
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


def _diverged(phase: str, epoch: int, detail: str) -> FloatingPointError:
    return FloatingPointError(
        f"Training diverged in {phase}, epoch {epoch + 1}: {detail}. "
        "Try smaller learning rates (lr_critic, lr_generator) or a larger gp_weight."
    )


def _check_finite(record: dict[str, float], phase: str, epoch: int) -> None:
    for name, value in record.items():
        if not math.isfinite(value):
            raise _diverged(phase, epoch, f"{name} = {value}")


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


@dataclass
class _StepDraws:
    """The random numbers of one phase-1 step, drawn in the thesis loop's order."""

    cluster: Tensor
    z: Tensor
    eps: Tensor


def _draw_step(nets: DAnoGANNetworks, real: Tensor, generator: torch.Generator) -> _StepDraws:
    batch = real.shape[0]
    cluster = torch.multinomial(nets.prior().detach(), batch, replacement=True, generator=generator)
    z = torch.rand(batch, nets.spec.latent_dim, generator=generator, device=real.device, dtype=real.dtype)
    return _StepDraws(cluster, z * 2 - 1, _interpolation_weights(real, generator))


def _shard_draws(draws: _StepDraws) -> _StepDraws:
    """This process's share of a step's draws (all of them in a single process)."""
    return _StepDraws(ddp.shard(draws.cluster), ddp.shard(draws.z), ddp.shard(draws.eps))


def _critic_step(
    nets: DAnoGANNetworks, opt: _Optimizers, real: Tensor, fake: Tensor, eps: Tensor, config: TrainingConfig, log: _EpochLog
) -> Tensor:
    """One critic update on ``real`` and (detached) ``fake``; returns ``D_i(real)``."""
    loss_d, wasserstein, penalty, real_features = critic_loss(
        nets.critic, real, fake.detach(), config.gp_weight, eps=eps
    )
    opt.critic.zero_grad(set_to_none=True)
    loss_d.backward()
    ddp.average_parameter_gradients(list(nets.critic.parameters()))
    _step(opt.critic)
    log.add(critic_loss=loss_d, wasserstein=wasserstein, gradient_penalty=penalty)
    return real_features


def _update_step(
    nets: DAnoGANNetworks,
    opt: _Optimizers,
    real: Tensor,
    config: TrainingConfig,
    generator: torch.Generator,
    entropy_weight: float,
    log: _EpochLog,
) -> None:
    """A critic step, then one update of the generators, encoders, classifier and bandit."""
    draws = _draw_step(nets, real, generator)
    all_clusters = draws.cluster
    real, draws = ddp.shard(real), _shard_draws(draws)
    fake = nets.generate(draws.z, draws.cluster)
    real_features = _critic_step(nets, opt, real, fake, draws.eps, config, log)

    # Generators and classifier share one forward through the updated critic.
    # The classifier sees the whole batch's features (its BatchNorm statistics).
    value_fake, features_fake = nets.critic(fake)
    cross_entropy = F.cross_entropy(nets.classifier(ddp.gather_rows(features_fake)), all_clusters)
    loss_g = -value_fake.mean() + config.classifier_weight * cross_entropy
    gen_params = list(nets.generators.parameters())
    cls_params = list(nets.classifier.parameters())
    grads_g = torch.autograd.grad(loss_g, gen_params, retain_graph=True, allow_unused=True)
    grads_g = ddp.average_gradients(grads_g, gen_params)
    grads_c = torch.autograd.grad(cross_entropy, cls_params)
    _step(opt.generator, gen_params, grads_g)
    _step(opt.classifier, cls_params, grads_c)

    # The encoders learn z -> G_k(z) -> z; their gradient does not involve G.
    loss_e = (nets.encode(fake.detach(), draws.cluster) - draws.z).pow(2).mean()
    opt.encoder.zero_grad(set_to_none=True)
    loss_e.backward()
    ddp.average_parameter_gradients(list(nets.encoders.parameters()))
    _step(opt.encoder)
    log.add(generator_loss=loss_g, encoder_loss=loss_e, classifier_loss=cross_entropy)

    if config.bandit:
        # The prior is pulled towards the classifier's mean prediction on real
        # data, with BatchNorm in eval mode so real batches do not mix into
        # the statistics of the fake batches the classifier trains on.
        with torch.no_grad():
            nets.classifier.eval()
            real_probs = ddp.average_(torch.softmax(nets.classifier(real_features), dim=1).mean(0))
            nets.classifier.train()
        loss_b = bandit_loss(nets.bandit_logits, real_probs, entropy_weight)
        opt.bandit.zero_grad(set_to_none=True)
        loss_b.backward()
        _step(opt.bandit)
        log.add(bandit_loss=loss_b)


def _phase1_steps(
    nets: DAnoGANNetworks,
    opt: _Optimizers,
    reals: Sequence[Tensor],
    config: TrainingConfig,
    generator: torch.Generator,
    update_first: bool,
    entropy_weight: float,
    log: _EpochLog,
) -> None:
    """Consecutive phase-1 steps, one per batch in ``reals``; only the first may update all parts.

    The critic-only steps see one state of the generators and the prior, so
    their random numbers are drawn first, in the order a step-by-step loop
    draws them, and all their fakes come from one generator call without a
    graph: the same numbers, with larger per-cluster blocks.
    """
    if update_first:
        _update_step(nets, opt, reals[0], config, generator, entropy_weight, log)
        reals = reals[1:]
    if not reals:
        return
    draws = [_shard_draws(_draw_step(nets, real, generator)) for real in reals]
    reals = [ddp.shard(real) for real in reals]
    with torch.no_grad():
        fakes = nets.generate(torch.cat([d.z for d in draws]), torch.cat([d.cluster for d in draws]))
    for real, fake, step_draws in zip(reals, fakes.split([len(d.z) for d in draws]), draws):
        _critic_step(nets, opt, real, fake, step_draws.eps, config, log)


_PHASE1_LOSSES = (
    "critic_loss",
    "wasserstein",
    "gradient_penalty",
    "generator_loss",
    "encoder_loss",
    "classifier_loss",
)


class _Run:
    """Everything a training run changes, so that it can be saved and resumed exactly."""

    def __init__(self, X: Tensor, spec: NetworkSpec, config: TrainingConfig, seed: int) -> None:
        device = X.device
        self.config = config
        self.nets = to_fast_layout(build_networks(spec, seed), device)
        self.optimizers = _Optimizers(self.nets, config)
        self.xzx_optimizer = _adam(self.nets.encoders.parameters(), config.lr_xzx, (0.5, 0.5))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        rows = torch.randperm(X.shape[0], generator=self.generator, device=device)
        self.monitor_rows = rows[:_MONITOR_SIZE]
        self.history: dict[str, list] = defaultdict(list)
        self.phase1_epoch = 0
        self.xzx_epoch = 0
        self.step = 0
        self.bandit_step = 0

    _COUNTERS = ("phase1_epoch", "xzx_epoch", "step", "bandit_step")

    def state(self) -> dict:
        return {
            "networks": self.nets.state_dict(),
            "optimizers": {
                name: getattr(self.optimizers, name).state_dict() for name in _Optimizers.NAMES
            },
            "xzx_optimizer": self.xzx_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "monitor_rows": self.monitor_rows,
            "history": dict(self.history),
            "counters": {name: getattr(self, name) for name in self._COUNTERS},
        }

    def load(self, state: dict) -> None:
        self.nets.load_state_dict(state["networks"])
        for name in _Optimizers.NAMES:
            _load_optimizer_state(getattr(self.optimizers, name), state["optimizers"][name])
        _load_optimizer_state(self.xzx_optimizer, state["xzx_optimizer"])
        self.generator.set_state(state["generator"])
        self.monitor_rows = state["monitor_rows"].to(self.monitor_rows.device)
        self.history = defaultdict(list, state["history"])
        for name, value in state["counters"].items():
            setattr(self, name, value)


def _phase1_epoch(run: _Run, X: Tensor, check_each_step: bool) -> dict[str, float]:
    config, nets = run.config, run.nets
    batch_size = min(config.batch_size, X.shape[0])
    n_batches = X.shape[0] // batch_size
    total_bandit_steps = math.ceil(config.n_epochs * n_batches / config.n_critic)
    log = _EpochLog(check_each_step)
    nets.train()
    try:
        batches = _batches(X.shape[0], batch_size, run.generator, X.device)
        done = 0
        while done < n_batches:
            # A run of steps from one generator update to the next (or the epoch's end).
            position = run.step % config.n_critic
            length = min(config.n_critic - position, n_batches - done)
            update = position == 0
            weight = entropy_weight_at(run.bandit_step, config, total_bandit_steps)
            reals = [X[indices] for indices in batches[done : done + length]]
            _phase1_steps(nets, run.optimizers, reals, config, run.generator, update, weight, log)
            run.bandit_step += update
            run.step += length
            done += length
    except FloatingPointError as exc:
        raise _diverged("phase 1", run.phase1_epoch, str(exc)) from None
    record = ddp.mean_record(log.means())
    record["reconstruction_error"] = reconstruction_error(nets, X[run.monitor_rows])
    record["entropy_weight"] = entropy_weight_at(run.bandit_step, config, total_bandit_steps)
    _check_finite(record, "phase 1", run.phase1_epoch)
    # Epochs too short for a generator step get NaN, so every entry is one epoch.
    expected = _PHASE1_LOSSES + (("bandit_loss",) if config.bandit else ())
    for name in expected:
        record.setdefault(name, math.nan)
    return record


def _xzx_epoch(run: _Run, X: Tensor, check_each_step: bool) -> dict[str, float]:
    nets = run.nets
    batch_size = min(run.config.batch_size, X.shape[0])
    log = _EpochLog(check_each_step)
    for indices in _batches(X.shape[0], batch_size, run.generator, X.device):
        real = X[ddp.shard(indices)]
        with torch.no_grad():
            cluster = nets.classifier(nets.critic.features(real)).argmax(dim=1)
        reconstruction = nets.generate(nets.encode(real, cluster), cluster)
        loss = (reconstruction - real).pow(2).mean()
        run.xzx_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        ddp.average_parameter_gradients(list(nets.encoders.parameters()))
        _step(run.xzx_optimizer)
        try:
            log.add(xzx_loss=loss)
        except FloatingPointError as exc:
            raise _diverged("xzx", run.xzx_epoch, str(exc)) from None
    record = ddp.mean_record(log.means())
    _check_finite(record, "xzx", run.xzx_epoch)
    return record


class _Frozen:
    """Generators, critic and classifier frozen for xzx; gradients still flow through G to E."""

    def __init__(self, nets: DAnoGANNetworks) -> None:
        self.modules = [nets.generators, nets.critic, nets.classifier]

    def __enter__(self) -> None:
        for module in self.modules:
            module.requires_grad_(False)
            module.eval()

    def __exit__(self, *exc) -> None:
        for module in self.modules:
            module.requires_grad_(True)


def _train(run: _Run, X: Tensor, verbose: int, save) -> None:
    """Run the remaining epochs of both phases, calling ``save()`` after each."""
    config = run.config
    check_each_step = X.device.type == "cpu"  # elsewhere a per-step check would sync the host
    progress = _Progress(verbose, config.n_epochs - run.phase1_epoch, "phase 1")
    try:
        while run.phase1_epoch < config.n_epochs:
            record = _phase1_epoch(run, X, check_each_step)
            for name, value in record.items():
                run.history[name].append(value)
            run.history["bandit_probabilities"].append(run.nets.prior().detach().cpu().numpy())
            progress.epoch(run.phase1_epoch, config.n_epochs, record)
            run.phase1_epoch += 1
            if run.phase1_epoch == config.n_epochs:
                error = reconstruction_error(run.nets, X[run.monitor_rows])
                run.history["reconstruction_error_before_xzx"].append(error)
            save()
    finally:
        progress.close()
    progress = _Progress(verbose, config.xzx_epochs - run.xzx_epoch, "xzx")
    try:
        with _Frozen(run.nets):
            while run.xzx_epoch < config.xzx_epochs:
                record = _xzx_epoch(run, X, check_each_step)
                run.history["xzx_loss"].append(record["xzx_loss"])
                progress.epoch(run.xzx_epoch, config.xzx_epochs, record)
                run.xzx_epoch += 1
                save()
    finally:
        progress.close()


def fit_networks(
    X: np.ndarray,
    spec: NetworkSpec,
    config: TrainingConfig,
    seed: int,
    device: str = "cpu",
    verbose: int = 0,
    checkpoint: str | os.PathLike | None = None,
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
    checkpoint : path or None
        File to save the whole training state to after every epoch. If it
        holds a checkpoint of the same run (same data, architecture,
        settings and seed), training resumes from it and ends with the same
        weights as an uninterrupted run.

    Returns
    -------
    TrainingResult
        The trained weights as CPU tensors, and ``history``: one entry per
        phase-1 epoch for ``critic_loss``, ``wasserstein``,
        ``gradient_penalty``, ``generator_loss``, ``encoder_loss``,
        ``classifier_loss`` and ``bandit_loss`` (NaN in an epoch too short
        for a generator step; no bandit loss without the bandit),
        ``reconstruction_error`` (of up to 256 training samples),
        ``entropy_weight`` and ``bandit_probabilities`` (n_epochs,
        n_generators); ``xzx_loss`` per xzx epoch; and the reconstruction
        error before and after xzx.

    Raises
    ------
    FloatingPointError
        When a loss becomes NaN or infinite, naming the phase, epoch and loss.
    CheckpointError
        When ``checkpoint`` is corrupt or belongs to another run.
    KeyboardInterrupt
        Re-raised with the checkpoint's location when training is interrupted.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).uniform(-1, 1, (64, 3)).astype(np.float32)
    >>> result = fit_networks(X, NetworkSpec((3,), 2, 2), TrainingConfig(n_epochs=1), seed=0)
    >>> result.history["bandit_probabilities"].shape
    (1, 2)
    """
    data = torch.as_tensor(X, dtype=torch.float32, device=torch.device(device))
    ddp.check_replicas(data, min(config.batch_size, data.shape[0]))
    run = _Run(data, spec, config, seed)
    save = lambda: None  # noqa: E731
    if checkpoint is not None:
        path = Path(checkpoint)
        fingerprint = run_fingerprint(X, spec, config, seed)
        if path.exists():
            state = load_checkpoint(path)
            if state.get("fingerprint") != fingerprint:
                raise CheckpointError(
                    f"{path} holds a checkpoint of another training run (other data or "
                    "parameters); delete it or choose another checkpoint_dir."
                )
            run.load(state)
        save = lambda: save_checkpoint(path, dict(run.state(), fingerprint=fingerprint))  # noqa: E731
    try:
        _train(run, data, verbose, save)
    except KeyboardInterrupt:
        if checkpoint is None:
            raise
        raise KeyboardInterrupt(
            f"Training interrupted; the checkpoint of the last finished epoch is in {checkpoint}. "
            "Fit again with the same data, parameters and checkpoint_dir to resume."
        ) from None
    run.history["reconstruction_error_after_xzx"].append(
        reconstruction_error(run.nets, data[run.monitor_rows])
    )
    run.nets.eval()
    state = contiguous_state(run.nets)
    return TrainingResult(state, {name: np.asarray(values) for name, values in run.history.items()})
