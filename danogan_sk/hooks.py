"""What happens at the end of a training epoch: progress, history, checks, checkpoints, early stopping.

The training loop (:mod:`danogan_sk.training`) runs the epochs of its two
phases, ``"phase 1"`` and ``"xzx"``, and hands each epoch's record (the
means of its losses, and what the hooks add) to a list of
:class:`EpochHook`. Everything else that happens between epochs is a hook:
:class:`History` (the only writer of the history), :class:`FiniteCheck`,
:class:`Progress`, :class:`Checkpoint` and :class:`EarlyStopping`. A new
per-epoch measure or rule is a new hook, not an edit of the loop.

The hooks see the run object of the loop: its ``nets``, ``config``,
``history``, ``monitor_rows`` and epoch counters.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from .checkpoint import save_checkpoint
from .nn import DAnoGANNetworks

__all__ = [
    "PHASES",
    "PHASE1_LOSSES",
    "EpochHook",
    "History",
    "FiniteCheck",
    "Progress",
    "Checkpoint",
    "EarlyStopping",
    "reconstruction_error",
]

#: The two phases of training, in order.
PHASES = ("phase 1", "xzx")

#: Losses of every phase-1 epoch (NaN in an epoch too short for a generator step).
PHASE1_LOSSES = (
    "critic_loss",
    "wasserstein",
    "gradient_penalty",
    "generator_loss",
    "encoder_loss",
    "classifier_loss",
)

# Rows per pass when measuring a reconstruction error, to bound memory.
_EVALUATION_ROWS = 1024


@torch.no_grad()
def reconstruction_error(nets: DAnoGANNetworks, x: Tensor) -> float:
    """Mean squared reconstruction error ``mean (x - G_k(E_k(x)))^2`` on ``x``, in eval mode."""
    was_training = nets.training
    nets.eval()
    total = 0.0
    for chunk in x.split(_EVALUATION_ROWS):
        total += float((nets.reconstruct(chunk).reconstruction - chunk).pow(2).sum())
    nets.train(was_training)
    return total / x.numel()


class EpochHook:
    """Called by the training loop around its epochs; every method does nothing by default."""

    def on_phase_start(self, run, phase: str, total: int) -> None:
        """Before the first epoch of ``phase`` still to run (``total`` planned in all)."""

    def should_stop(self, run, phase: str) -> bool:
        """Whether ``phase`` ends now, before its planned number of epochs (read from ``run``)."""
        return False

    def on_epoch_end(self, run, phase: str, epoch: int, record: dict[str, float]) -> None:
        """After epoch ``epoch`` (from 0) of ``phase``; ``record`` may be added to for later hooks."""

    def on_phase_end(self, run, phase: str) -> None:
        """After the last epoch of ``phase``, or at once when it has none left."""

    def on_train_end(self, run) -> None:
        """After both phases."""

    def close(self) -> None:
        """Release what the hook holds; called even when training fails."""


def diverged(phase: str, epoch: int, detail: str) -> FloatingPointError:
    """The error of a non-finite loss, with advice."""
    return FloatingPointError(
        f"Training diverged in {phase}, epoch {epoch + 1}: {detail}. "
        "Try smaller learning rates (lr_critic, lr_generator) or a larger gp_weight."
    )


class FiniteCheck(EpochHook):
    """Stop training with a clear error when a value of the epoch's record is NaN or infinite."""

    def on_epoch_end(self, run, phase, epoch, record) -> None:
        for name, value in record.items():
            if not math.isfinite(value):
                raise diverged(phase, epoch, f"{name} = {value}")


class History(EpochHook):
    """The only writer of ``run.history``: one entry per epoch for every name, and the phase ends.

    Phase 1 records every loss of :data:`PHASE1_LOSSES` (NaN in an epoch
    too short for a generator step, so that every entry is one epoch),
    ``bandit_loss`` with the bandit, ``reconstruction_loss`` with a
    ``reconstruction_weight``, and the bandit's probabilities; xzx
    records its own. ``reconstruction_error_before_xzx`` is measured when
    phase 1 ends (again if more phase-1 epochs follow, as in a continued
    fit), ``reconstruction_error_after_xzx`` when training ends.
    """

    def on_epoch_end(self, run, phase, epoch, record) -> None:
        if phase == "phase 1":
            expected = (PHASE1_LOSSES + (("bandit_loss",) if run.config.bandit else ())
                        + (("reconstruction_loss",) if run.config.reconstruction_weight else ()))
            record = {**{name: math.nan for name in expected}, **record}
            run.history.pop("reconstruction_error_before_xzx", None)
        for name, value in record.items():
            run.history[name].append(value)
        if phase == "phase 1":
            run.history["bandit_probabilities"].append(run.nets.prior().detach().cpu().numpy())

    def on_phase_end(self, run, phase) -> None:
        if phase == "phase 1" and "reconstruction_error_before_xzx" not in run.history:
            error = reconstruction_error(run.nets, run.monitor_data())
            run.history["reconstruction_error_before_xzx"].append(error)

    def on_train_end(self, run) -> None:
        error = reconstruction_error(run.nets, run.monitor_data())
        run.history["reconstruction_error_after_xzx"] = [error]


class Progress(EpochHook):
    """``verbose=1``: a tqdm bar per phase; ``verbose=2``: one line per epoch on stderr."""

    def __init__(self, verbose: int) -> None:
        self.verbose = verbose
        self.bar = None
        self.total = 0

    def on_phase_start(self, run, phase, total) -> None:
        self.total = total
        remaining = total - run.epochs_done(phase)
        if self.verbose == 1 and remaining > 0:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=remaining, desc=phase, unit="epoch", leave=False)

    def on_epoch_end(self, run, phase, epoch, record) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in record.items()}, refresh=False)
            self.bar.update(1)
        elif self.verbose >= 2:
            values = " ".join(f"{k}={v:.4g}" for k, v in record.items())
            print(f"[{phase}] epoch {epoch + 1}/{self.total} {values}", file=sys.stderr, flush=True)

    def on_phase_end(self, run, phase) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Checkpoint(EpochHook):
    """Save the whole training state to ``path`` after every epoch (put it last: it saves what the others wrote)."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint

    def on_epoch_end(self, run, phase, epoch, record) -> None:
        save_checkpoint(self.path, dict(run.state(), fingerprint=self.fingerprint))


class EarlyStopping(EpochHook):
    """End a phase when the reconstruction error of held-out normal rows stops falling.

    After every epoch the error ``mean (x - G_k(E_k(x)))^2`` of the
    validation rows is added to the record (``validation_reconstruction_error``
    in phase 1, ``xzx_validation_reconstruction_error`` in xzx). A phase
    ends when none of its last ``n_iter_no_change`` epochs improved on the
    best error of the epochs before them. No labels are involved: the rows
    are normal training data the networks do not train on.

    The decision is read from the history, so a resumed or continued run
    makes the same one, and a phase that stopped stays stopped.

    Parameters
    ----------
    validation : Tensor
        The held-out rows, scaled like the training data.
    n_iter_no_change : int
        Epochs without improvement that end a phase.
    """

    NAMES = {"phase 1": "validation_reconstruction_error", "xzx": "xzx_validation_reconstruction_error"}

    def __init__(self, validation: Tensor, n_iter_no_change: int) -> None:
        self.validation = validation
        self.n_iter_no_change = n_iter_no_change

    def on_epoch_end(self, run, phase, epoch, record) -> None:
        record[self.NAMES[phase]] = reconstruction_error(run.nets, self.validation)

    def should_stop(self, run, phase) -> bool:
        return should_stop(run.history.get(self.NAMES[phase], []), self.n_iter_no_change)


def should_stop(errors, n_iter_no_change: int) -> bool:
    """Whether the last ``n_iter_no_change`` of ``errors`` all fail to beat the best before them.

    Examples
    --------
    >>> should_stop([3.0, 2.0, 2.5, 2.1], 2), should_stop([3.0, 2.0, 2.5, 1.9], 2)
    (True, False)
    """
    errors = list(errors)
    if len(errors) <= n_iter_no_change:
        return False
    return min(errors[-n_iter_no_change:]) >= min(errors[:-n_iter_no_change])


def call_all(hooks: list[EpochHook], method: str) -> Callable[..., None]:
    """A function calling ``method`` of every hook in order."""

    def call(*args) -> None:
        for hook in hooks:
            getattr(hook, method)(*args)

    return call
