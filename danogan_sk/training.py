"""Training of the D-AnoGAN networks: the two phases, their schedule and history.

Phase 1 (thesis appendix A): for every mini-batch, one critic step; every
``n_critic`` critic steps, one update of the generators, encoders, classifier
and bandit. Phase 2 ("xzx", thesis section 4.2): generators, critic and
classifier frozen, the encoders learn to reconstruct real data. The losses
are :mod:`danogan_sk.losses`'s; every optimizer step goes through
:class:`danogan_sk.optim.Adam`. This module orders the random numbers, the
steps and the epochs.

This module uses none of scikit-learn's estimator machinery: it takes a float tensor already
scaled to the generators' [-1, 1] range and returns trained weights.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from . import distributed as ddp
from .augment import random_moves, translated
from .checkpoint import CheckpointError, load_checkpoint, run_fingerprint
from .config import TrainingConfig
from .critic_snapshots import is_snapshot_epoch
from .devices import deterministic_kernels
from .hooks import (
    PHASES,
    Checkpoint,
    EarlyStopping,
    EpochHook,
    FiniteCheck,
    History,
    Progress,
    call_all,
    diverged,
    reconstruction_error,
)
from .losses import (
    bandit_loss,
    classifier_loss,
    critic_loss,
    encoder_loss,
    generator_loss,
    interpolation_weights,
    xzx_loss,
)
from .nn import DAnoGANNetworks, NetworkSpec, build_networks, contiguous_state, to_fast_layout
from .optim import Adam

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "entropy_weight_at",
    "fit_networks",
    "shuffled_batches",
]

#: Number of real samples whose reconstruction error is logged every epoch.
_MONITOR_SIZE = 256


@dataclass
class TrainingResult:
    """Trained weights (CPU tensors), the per-epoch record of training and, if asked, a state to continue from.

    ``phase1_state`` is the whole training state when phase 1 ended, before
    xzx (CPU tensors); :func:`fit_networks` continues from it with more
    phase-1 epochs. ``critic_snapshots`` are the critics kept at earlier
    phase-1 epochs (``config.critic_snapshots``), each ``{"epoch": e,
    "weights": state_dict}``, oldest first.
    """

    state_dict: dict[str, Tensor]
    history: dict[str, np.ndarray]
    phase1_state: dict | None = None
    critic_snapshots: list[dict] = dataclasses.field(default_factory=list)


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


class _Optimizers:
    """The thesis's Adam settings (appendix B), one optimizer per part."""

    NAMES = ("generator", "critic", "encoder", "classifier", "bandit")

    def __init__(self, nets: DAnoGANNetworks, config: TrainingConfig) -> None:
        self.generator = Adam(nets.generators.parameters(), config.lr_generator, (0.9, 0.99), 5e-5)
        self.critic = Adam(nets.critic.parameters(), config.lr_critic, (0.5, 0.5))
        self.encoder = Adam(nets.encoders.parameters(), config.lr_encoder, (0.5, 0.5))
        self.classifier = Adam(nets.classifier.parameters(), config.lr_classifier, (0.9, 0.99))
        self.bandit = Adam([nets.bandit_logits], config.lr_bandit, (0.5, 0.5))


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


def shuffled_batches(n_samples: int, batch_size: int, generator: torch.Generator) -> Tensor:
    """Shuffled full batches of row indices, one batch per row of the result.

    ``batch_size`` is capped at ``n_samples``; the last partial batch is
    dropped, as in the thesis. The permutation is drawn on ``generator``'s
    device.
    """
    batch_size = min(batch_size, n_samples)
    order = torch.randperm(n_samples, generator=generator, device=generator.device)
    n_batches = n_samples // batch_size
    return order[: n_batches * batch_size].view(n_batches, batch_size)


@dataclass
class _StepDraws:
    """The random numbers of one phase-1 step, drawn in the thesis loop's order.

    With ``augment_shift``, the moves of the real and of the generated images
    the critic sees are drawn last (``None`` without it, so that the thesis's
    draws stay as they were).
    """

    cluster: Tensor
    z: Tensor
    eps: Tensor
    real_moves: Tensor | None = None
    fake_moves: Tensor | None = None


def _critic_view(images: Tensor, moves: Tensor | None, config: TrainingConfig) -> Tensor:
    """``images`` as the critic sees them: moved by ``moves``, if any. The uncovered border
    takes -1, the low end of the [-1, 1] scale, as ``neighbor_shift``'s moved queries do."""
    if moves is None:
        return images
    return translated(images, moves, fill=-1.0, max_shift=config.augment_shift)


def _draw_step(
    nets: DAnoGANNetworks, real: Tensor, config: TrainingConfig, generator: torch.Generator
) -> _StepDraws:
    batch = real.shape[0]
    # A NaN prior (a diverged bandit) would stop a CUDA multinomial with a device-side assert
    # that leaves the process unable to use the GPU; drawn uniformly instead, the step goes on
    # and the epoch's finite check reports the loss that diverged.
    prior = torch.nan_to_num(nets.prior().detach(), nan=1.0)
    cluster = torch.multinomial(prior, batch, replacement=True, generator=generator)
    z = torch.rand(batch, nets.spec.latent_dim, generator=generator, device=real.device, dtype=real.dtype)
    draws = _StepDraws(cluster, z * 2 - 1, interpolation_weights(real, generator))
    if config.augment_shift and real.dim() == 4:
        moves = random_moves(2 * batch, config.augment_shift, generator, real.device)
        draws.real_moves, draws.fake_moves = moves[:batch], moves[batch:]
    return draws


def _shard_draws(draws: _StepDraws) -> _StepDraws:
    """This process's share of a step's draws (all of them in a single process)."""
    values = (getattr(draws, field.name) for field in dataclasses.fields(draws))
    return _StepDraws(*(None if value is None else ddp.shard(value) for value in values))


def _critic_step(
    nets: DAnoGANNetworks,
    opt: _Optimizers,
    real: Tensor,
    fake: Tensor,
    eps: Tensor,
    config: TrainingConfig,
    log: _EpochLog,
) -> Tensor:
    """One critic update on ``real`` and (detached) ``fake``, as the critic sees them
    (:func:`_critic_view`); returns ``D_i(real)``."""
    loss_d, wasserstein, penalty, real_features = critic_loss(
        nets.critic, real, fake.detach(), config.gp_weight, eps=eps
    )
    opt.critic.zero_grad(set_to_none=True)
    loss_d.backward()
    ddp.average_parameter_gradients(list(nets.critic.parameters()))
    opt.critic.step()
    log.add(critic_loss=loss_d, wasserstein=wasserstein, gradient_penalty=penalty)
    return real_features


@torch.no_grad()
def _classify_real(nets: DAnoGANNetworks, real_features: Tensor) -> Tensor:
    """The classifier's logits for real images' critic features, its BatchNorm in eval mode,
    so that real batches do not mix into the statistics of the fakes it trains on."""
    nets.classifier.eval()
    try:
        return nets.classifier(real_features)
    finally:
        nets.classifier.train()


def _add_gradients(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """The sum of two gradients of one parameter, either of which may be unused (``None``)."""
    if a is None:
        return b
    return a if b is None else a + b


def _reconstruction_gradients(
    nets: DAnoGANNetworks,
    real: Tensor,
    real_features: Tensor,
    weight: float,
    gen_params: Sequence[Tensor],
    enc_params: Sequence[Tensor],
    log: _EpochLog,
) -> tuple[Sequence[Tensor | None], Sequence[Tensor | None]]:
    """Gradients of ``weight * L_xzx`` on a real batch for the generators and the encoders.

    The phase-1 reconstruction term (``reconstruction_weight``): each real
    image goes through the encoder and generator of the cluster the
    classifier gives it, as in phase 2, but the gradient reaches ``G_k`` as
    well as ``E_k``, so both learn the real data from the first epoch. The
    classifier routes as it does for the bandit (:func:`_classify_real`).
    """
    cluster = _classify_real(nets, real_features).argmax(dim=1)
    loss = xzx_loss(nets.generate(nets.encode(real, cluster), cluster), real)
    grads = torch.autograd.grad(weight * loss, [*gen_params, *enc_params], allow_unused=True)
    log.add(reconstruction_loss=loss)
    return grads[: len(gen_params)], grads[len(gen_params):]


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
    draws = _draw_step(nets, real, config, generator)
    all_clusters = draws.cluster
    real, draws = ddp.shard(real), _shard_draws(draws)
    fake = nets.generate(draws.z, draws.cluster)
    # The critic sees the fakes moved once: its step reads them detached, the generators'
    # update through the move. The encoders learn to invert the fakes as drawn.
    seen_fake = _critic_view(fake, draws.fake_moves, config)
    real_features = _critic_step(
        nets, opt, _critic_view(real, draws.real_moves, config), seen_fake, draws.eps, config, log)

    # Generators and classifier share one forward through the updated critic.
    # The classifier sees the whole batch's features (its BatchNorm statistics).
    value_fake, features_fake = nets.critic(seen_fake)
    cross_entropy = classifier_loss(nets.classifier(ddp.gather_rows(features_fake)), all_clusters)
    loss_g = generator_loss(value_fake, cross_entropy, config.classifier_weight)
    gen_params = list(nets.generators.parameters())
    enc_params = list(nets.encoders.parameters())
    cls_params = list(nets.classifier.parameters())
    grads_g = torch.autograd.grad(loss_g, gen_params, retain_graph=True, allow_unused=True)
    grads_e_rec: Sequence[Tensor | None] = [None] * len(enc_params)
    if config.reconstruction_weight:
        # Taken before the generators step: the graph reads their current weights.
        grads_g_rec, grads_e_rec = _reconstruction_gradients(
            nets, real, real_features, config.reconstruction_weight, gen_params, enc_params, log)
        grads_g = [_add_gradients(a, b) for a, b in zip(grads_g, grads_g_rec)]
    grads_g = ddp.average_gradients(grads_g, gen_params)
    grads_c = torch.autograd.grad(cross_entropy, cls_params)
    opt.generator.step_with(gen_params, grads_g)
    opt.classifier.step_with(cls_params, grads_c)

    # The encoders learn z -> G_k(z) -> z; their gradient does not involve G.
    loss_e = encoder_loss(nets.encode(fake.detach(), draws.cluster), draws.z)
    opt.encoder.zero_grad(set_to_none=True)
    loss_e.backward()
    for param, grad in zip(enc_params, grads_e_rec):
        param.grad = _add_gradients(param.grad, grad)
    ddp.average_parameter_gradients(enc_params)
    opt.encoder.step()
    log.add(generator_loss=loss_g, encoder_loss=loss_e, classifier_loss=cross_entropy)

    if config.bandit:
        # The prior is pulled towards the classifier's mean prediction on real data.
        real_probs = ddp.average_(torch.softmax(_classify_real(nets, real_features), dim=1).mean(0))
        loss_b = bandit_loss(nets.bandit_logits, real_probs, entropy_weight)
        opt.bandit.zero_grad(set_to_none=True)
        loss_b.backward()
        opt.bandit.step()
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
    draws = [_shard_draws(_draw_step(nets, real, config, generator)) for real in reals]
    reals = [ddp.shard(real) for real in reals]
    with torch.no_grad():
        fakes = nets.generate(torch.cat([d.z for d in draws]), torch.cat([d.cluster for d in draws]))
    for real, fake, step_draws in zip(reals, fakes.split([len(d.z) for d in draws]), draws):
        real = _critic_view(real, step_draws.real_moves, config)
        fake = _critic_view(fake, step_draws.fake_moves, config)
        _critic_step(nets, opt, real, fake, step_draws.eps, config, log)


def _mean_weight(tensors: list[Tensor]) -> Tensor:
    """The mean of a weight's copies; a counter (an integer buffer) keeps its last value."""
    if tensors[-1].is_floating_point():
        return torch.stack(tensors).mean(0)
    return tensors[-1]


#: The networks whose weights can be averaged over the last phase-1 epochs, and the
#: setting that sizes each window.
_AVERAGED = {"critic": "critic_average_epochs", "generators": "generator_average_epochs"}


class _Run:
    """Everything a training run changes, so that it can be saved and resumed exactly."""

    def __init__(self, X: Tensor, spec: NetworkSpec, config: TrainingConfig, seed: int) -> None:
        device = X.device
        self.config = config
        self.nets = to_fast_layout(build_networks(spec, seed), device)
        self.optimizers = _Optimizers(self.nets, config)
        self.xzx_optimizer = Adam(self.nets.encoders.parameters(), config.lr_xzx, (0.5, 0.5))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        rows = torch.randperm(X.shape[0], generator=self.generator, device=device)
        self.data = X
        self.monitor_rows = rows[:_MONITOR_SIZE]
        self.history: dict[str, list] = defaultdict(list)
        # Each averaged network's weights at the end of the last phase-1 epochs
        # (critic_average_epochs, generator_average_epochs).
        self.weight_windows: dict[str, deque[dict[str, Tensor]]] = {
            name: deque(maxlen=getattr(config, setting)) for name, setting in _AVERAGED.items()
        }
        # The critic at the end of earlier phase-1 epochs, for the score (critic_snapshots).
        self.critic_snapshots: deque[dict] = deque(maxlen=config.critic_snapshots)
        self.phase1_epoch = 0
        self.xzx_epoch = 0
        self.step = 0
        self.bandit_step = 0

    _COUNTERS = ("phase1_epoch", "xzx_epoch", "step", "bandit_step")
    _EPOCH_COUNTERS = {"phase 1": "phase1_epoch", "xzx": "xzx_epoch"}

    def epochs_done(self, phase: str) -> int:
        """Epochs of ``phase`` run so far."""
        return getattr(self, self._EPOCH_COUNTERS[phase])

    def monitor_data(self) -> Tensor:
        """The training rows whose reconstruction error is logged."""
        return self.data[self.monitor_rows]

    def state(self) -> dict:
        return {
            "networks": self.nets.state_dict(),
            "optimizers": {
                name: getattr(self.optimizers, name).state_dict() for name in _Optimizers.NAMES
            },
            "xzx_optimizer": self.xzx_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "monitor_rows": self.monitor_rows,
            **{f"{name}_window": list(window) for name, window in self.weight_windows.items()},
            "critic_snapshots": list(self.critic_snapshots),
            "history": dict(self.history),
            "counters": {name: getattr(self, name) for name in self._COUNTERS},
        }

    def remember_weights(self) -> None:
        """Add each averaged network's current weights to the window that
        :meth:`average_weights` reads."""
        for name, window in self.weight_windows.items():
            if window.maxlen > 1:  # a window of one is the network itself
                module = getattr(self.nets, name)
                window.append({k: v.detach().clone() for k, v in module.state_dict().items()})

    def averaged_weights(self, name: str) -> dict[str, Tensor]:
        """The mean of network ``name``'s weights at the end of the last phase-1 epochs its
        window holds (all of them, when fewer ran); its current weights without a window."""
        window = self.weight_windows[name]
        if not window:
            return {k: v.detach().clone() for k, v in getattr(self.nets, name).state_dict().items()}
        return {k: _mean_weight([weights[k] for weights in window]) for k in window[0]}

    def average_weights(self) -> None:
        """Give each averaged network its :meth:`averaged_weights`.

        The windows stay in the state, so that resuming or continuing the run
        averages them again to the same weights.
        """
        for name, window in self.weight_windows.items():
            if window:
                getattr(self.nets, name).load_state_dict(self.averaged_weights(name))

    def keep_critic_snapshot(self) -> None:
        """At the epochs of :func:`is_snapshot_epoch`, keep the critic the score would read
        if phase 1 ended here (averaged as ``critic_average_epochs`` says)."""
        epoch = self.phase1_epoch + 1  # the epoch just finished, counted from 1
        if self.critic_snapshots.maxlen and is_snapshot_epoch(epoch):
            self.critic_snapshots.append({"epoch": epoch, "weights": self.averaged_weights("critic")})

    def load(self, state: dict) -> None:
        self.nets.load_state_dict(state["networks"])
        for name in _Optimizers.NAMES:
            getattr(self.optimizers, name).load_state_dict(state["optimizers"][name])
        self.xzx_optimizer.load_state_dict(state["xzx_optimizer"])
        self.generator.set_state(state["generator"])
        self.monitor_rows = state["monitor_rows"].to(self.monitor_rows.device)
        device = self.monitor_rows.device
        for name, window in self.weight_windows.items():
            window.clear()  # a state saved before the window existed holds none
            window.extend({k: v.to(device) for k, v in weights.items()}
                          for weights in state.get(f"{name}_window", ()))
        self.history = defaultdict(list, {name: list(values) for name, values in state["history"].items()})
        self.critic_snapshots.clear()  # a state saved before snapshots were kept holds none
        self.critic_snapshots.extend(
            {"epoch": snap["epoch"], "weights": {k: v.to(device) for k, v in snap["weights"].items()}}
            for snap in state.get("critic_snapshots", ())
        )
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
        batches = shuffled_batches(X.shape[0], batch_size, run.generator)
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
        raise diverged("phase 1", run.phase1_epoch, str(exc)) from None
    run.remember_weights()
    run.keep_critic_snapshot()
    record = ddp.mean_record(log.means())
    record["reconstruction_error"] = reconstruction_error(nets, run.monitor_data())
    record["entropy_weight"] = entropy_weight_at(run.bandit_step, config, total_bandit_steps)
    return record


def _xzx_epoch(run: _Run, X: Tensor, check_each_step: bool) -> dict[str, float]:
    nets = run.nets
    log = _EpochLog(check_each_step)
    for indices in shuffled_batches(X.shape[0], run.config.batch_size, run.generator):
        real = X[ddp.shard(indices)]
        with torch.no_grad():
            cluster = nets.classifier(nets.critic.features(real)).argmax(dim=1)
        reconstruction = nets.generate(nets.encode(real, cluster), cluster)
        loss = xzx_loss(reconstruction, real)
        run.xzx_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        ddp.average_parameter_gradients(list(nets.encoders.parameters()))
        run.xzx_optimizer.step()
        try:
            log.add(xzx_loss=loss)
        except FloatingPointError as exc:
            raise diverged("xzx", run.xzx_epoch, str(exc)) from None
    return ddp.mean_record(log.means())


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


def _checks_each_step(device: torch.device) -> bool:
    """Whether a non-finite loss is caught at its step: on a CPU; elsewhere the check would
    sync the host every step, and the epoch's :class:`FiniteCheck` catches it instead."""
    return device.type == "cpu"


def _train(run: _Run, X: Tensor, hooks: list[EpochHook]) -> None:
    """Run the remaining epochs of both phases, calling the hooks around each."""
    check_each_step = _checks_each_step(X.device)
    planned = {"phase 1": run.config.n_epochs, "xzx": run.config.xzx_epochs}
    stop_requested = lambda phase: any(hook.should_stop(run, phase) for hook in hooks)  # noqa: E731
    try:
        for phase in PHASES:
            call_all(hooks, "on_phase_start")(run, phase, planned[phase])
            epoch_function = _phase1_epoch if phase == "phase 1" else _xzx_epoch
            with _Frozen(run.nets) if phase == "xzx" else contextlib.nullcontext():
                while run.epochs_done(phase) < planned[phase] and not stop_requested(phase):
                    record = epoch_function(run, X, check_each_step)
                    epoch = run.epochs_done(phase)
                    setattr(run, run._EPOCH_COUNTERS[phase], epoch + 1)
                    call_all(hooks, "on_epoch_end")(run, phase, epoch, record)
            call_all(hooks, "on_phase_end")(run, phase)
            if phase == "phase 1":
                # After the hooks: a state kept to continue from holds the trained weights.
                run.average_weights()
        call_all(hooks, "on_train_end")(run)
    finally:
        call_all(hooks, "close")()


def fit_networks(
    X: np.ndarray,
    spec: NetworkSpec,
    config: TrainingConfig,
    seed: int,
    device: str = "cpu",
    verbose: int = 0,
    checkpoint: str | os.PathLike | None = None,
    hooks: Sequence[EpochHook] = (),
    initial_state: dict | None = None,
    keep_phase1_state: bool = False,
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
    hooks : sequence of EpochHook
        Further epoch hooks (see :mod:`danogan_sk.hooks`), called after the
        built-in ones (validation, finiteness check, history, progress) and
        before the checkpoint is saved.
    initial_state : dict or None
        A ``phase1_state`` of an earlier call with the same data,
        architecture, seed and settings but for ``n_epochs`` and
        ``xzx_epochs``: phase 1 continues from it up to ``config.n_epochs``,
        then xzx runs in full. With a fixed ``entropy_decay`` the result
        equals one call with the larger ``n_epochs``; with ``"auto"`` the
        remaining bandit steps follow the schedule planned for the new
        length, from the step reached (the weight rises where the plan
        grew). A phase 1 that stopped early stays stopped.
    keep_phase1_state : bool
        Return ``phase1_state``, to continue from later.

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
        n_generators); ``xzx_loss`` per xzx epoch; the reconstruction
        error before and after xzx; with ``config.validation_fraction``, the
        held-out rows' reconstruction error per epoch of each phase
        (``validation_reconstruction_error``,
        ``xzx_validation_reconstruction_error``). A phase stopped early has
        fewer entries than planned.

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
    data, validation = _validation_split(data, config.validation_fraction, seed)
    run = _Run(data, spec, config, seed)
    fingerprint = run_fingerprint(X, spec, config, seed)
    if initial_state is not None:
        _check_continuation(initial_state, X, spec, config, seed)
        run.load(copy.deepcopy(initial_state))  # the optimizers update loaded tensors in place
    extra_hooks, hooks = list(hooks), []
    if validation is not None:
        hooks.append(EarlyStopping(validation, config.n_iter_no_change))
    hooks += [FiniteCheck(), History(), Progress(verbose), *extra_hooks]
    snapshot = _Phase1Snapshot(fingerprint, X, spec, config, seed) if keep_phase1_state else None
    if snapshot is not None:
        hooks.append(snapshot)
    if checkpoint is not None:
        path = Path(checkpoint)
        if path.exists():
            state = load_checkpoint(path)
            continued = initial_state is not None and state.get("fingerprint") == initial_state["fingerprint"]
            if state.get("fingerprint") == fingerprint:
                run.load(state)
            elif not continued:  # the continued run's own checkpoint is superseded
                raise CheckpointError(
                    f"{path} holds a checkpoint of another training run (other data or "
                    "parameters); delete it or choose another checkpoint_dir."
                )
        hooks.append(Checkpoint(path, fingerprint))  # last: it saves what the others wrote
    try:
        with deterministic_kernels(data.device):
            _train(run, data, hooks)
    except KeyboardInterrupt:
        if checkpoint is None:
            raise
        raise KeyboardInterrupt(
            f"Training interrupted; the checkpoint of the last finished epoch is in {checkpoint}. "
            "Fit again with the same data, parameters and checkpoint_dir to resume."
        ) from None
    run.nets.eval()
    state = contiguous_state(run.nets)
    history = {name: np.asarray(values) for name, values in run.history.items()}
    # A snapshot of the last epoch is the critic itself, which the score reads anyway.
    critics = [_cpu_copy(snap) for snap in run.critic_snapshots if snap["epoch"] < run.phase1_epoch]
    return TrainingResult(state, history, snapshot.state if snapshot is not None else None, critics)


class _Phase1Snapshot(EpochHook):
    """Keeps a CPU copy of the training state when phase 1 ends, to continue from."""

    def __init__(self, fingerprint: str, X: np.ndarray, spec: NetworkSpec, config: TrainingConfig, seed: int) -> None:
        self.identity = {
            "fingerprint": fingerprint,
            "data": run_fingerprint(X),
            "spec": spec,
            "config": _continuable(config),
            "seed": seed,
        }
        self.state: dict | None = None

    def on_phase_end(self, run, phase) -> None:
        # A run resumed from a checkpoint taken during xzx no longer has the
        # encoders of phase 1's end: it keeps no state rather than a wrong one.
        if phase == "phase 1" and run.xzx_epoch == 0:
            self.state = dict(_cpu_copy(run.state()), **self.identity)


def _continuable(config: TrainingConfig) -> TrainingConfig:
    """``config`` without the settings a continued run may change."""
    return dataclasses.replace(config, n_epochs=0, xzx_epochs=0)


def _check_continuation(state: dict, X: np.ndarray, spec: NetworkSpec, config: TrainingConfig, seed: int) -> None:
    """A clear error when ``state`` cannot continue into this run."""
    if state.get("data") != run_fingerprint(X):
        raise ValueError(
            "warm_start=True continues a fit on the same data, but X differs from the data of "
            "the previous fit; fit with warm_start=False to train on new data."
        )
    if state.get("spec") != spec or state.get("config") != _continuable(config) or state.get("seed") != seed:
        raise ValueError(
            "warm_start=True continues a fit with more epochs; only n_epochs and xzx_epochs "
            "may change, but other training parameters differ from the previous fit's. Fit "
            "with warm_start=False to start over."
        )
    done = state["counters"]["phase1_epoch"]
    if config.n_epochs < done:
        raise ValueError(
            f"n_epochs={config.n_epochs} must be at least the {done} epochs already trained "
            "when warm_start=True."
        )


def _cpu_copy(value):
    """``value`` with every tensor in it copied to the CPU."""
    if isinstance(value, Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _cpu_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_copy(item) for item in value)
    return copy.deepcopy(value)


def _validation_split(X: Tensor, fraction: float | None, seed: int) -> tuple[Tensor, Tensor | None]:
    """``X`` cut into training rows and held-out rows (``None`` without a ``fraction``).

    The rows are drawn from their own generator, so that a run without a
    split draws the same random numbers as before.
    """
    if fraction is None:
        return X, None
    n_samples = X.shape[0]
    n_validation = math.ceil(fraction * n_samples)
    if not 1 <= n_validation <= n_samples - 2:
        raise ValueError(
            f"validation_fraction={fraction} of {n_samples} samples leaves {n_samples - n_validation} "
            f"for training and {n_validation} for validation; each needs some (training two)."
        )
    order = torch.randperm(n_samples, generator=torch.Generator().manual_seed(seed)).to(X.device)
    return X[order[n_validation:]], X[order[:n_validation]]
