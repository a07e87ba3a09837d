"""Critics kept at earlier epochs of a training run, which the score's ``critic`` term also reads.

A WGAN critic rates as unreal what the generators do not yet draw, so what
it singles out moves as they learn: on MNIST with digit 1 held out, the
critic's value tells the thin strokes of a 1 from the other digits almost
perfectly after 24 epochs and much less well after 48, once the generators
draw such strokes too. The score then averages the last critic's value with
those of critics kept at epochs 8, 16, 32, ... (powers of two, so that the
kept epochs do not depend on a training length that a time budget leaves
open), each divided by its own spread on the training data.

Each snapshot is a copy of the critic's weights: ``critic_snapshots`` of
them at most, the most recent ones.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from .nn import ConvCritic, DenseCritic, NetworkSpec, contiguous_state, empty_module, to_fast_layout

__all__ = ["FIRST_SNAPSHOT_EPOCH", "CriticSnapshots", "is_snapshot_epoch"]

#: The first epoch at which the critic is kept. The critic of the first few
#: epochs has seen only the generators' first drafts.
FIRST_SNAPSHOT_EPOCH = 8


def is_snapshot_epoch(epoch: int) -> bool:
    """Whether the critic is kept at the end of phase-1 epoch ``epoch`` (counted from 1).

    Examples
    --------
    >>> [e for e in range(1, 70) if is_snapshot_epoch(e)]
    [8, 16, 32, 64]
    """
    return epoch >= FIRST_SNAPSHOT_EPOCH and epoch & (epoch - 1) == 0


class CriticSnapshots:
    """Earlier critics of a fit, and the spread of each one's value on the training data.

    Parameters
    ----------
    spec : NetworkSpec
        The architecture the critics belong to.
    weights : list of dict
        Each critic's ``state_dict``, oldest first.
    epochs : list of int
        The phase-1 epoch at whose end each critic was kept.
    device : torch.device or str, default="cpu"
        Where the critics run.

    Attributes
    ----------
    scales : Tensor of shape (len(epochs) + 1,) or None
        The spread of ``-D(x)`` on the training data for each snapshot and,
        last, for the detector's own critic; set by the estimator at ``fit``.
    """

    def __init__(self, spec: NetworkSpec, weights: list[dict[str, Tensor]], epochs: list[int],
                 device: torch.device | str = "cpu") -> None:
        if len(weights) != len(epochs) or not weights:
            raise ValueError(f"Need one or more critics and one epoch each, got {len(weights)} and {len(epochs)}.")
        self.spec = spec
        self.epochs = tuple(int(e) for e in epochs)
        self.critics = [_load_critic(spec, state, device) for state in weights]
        self.scales: Tensor | None = None

    def __len__(self) -> int:
        return len(self.critics)

    @torch.no_grad()
    def values(self, x: Tensor) -> Tensor:
        """``-D_s(x)`` of every snapshot ``s``: shape (len(self), n)."""
        return torch.stack([-critic(x)[0] for critic in self.critics])

    def combine(self, snapshot_values: Tensor, own_value: Tensor) -> Tensor:
        """The mean of all critics' values, each divided by its spread, in the own critic's units.

        Parameters
        ----------
        snapshot_values : Tensor of shape (len(self), n)
            :meth:`values` of the queries.
        own_value : Tensor of shape (n,)
            ``-D(x)`` of the detector's own (last) critic.

        Examples
        --------
        >>> from danogan_sk.nn import NetworkSpec, build_networks
        >>> spec = NetworkSpec((3,), 2, 2)
        >>> snaps = CriticSnapshots(spec, [build_networks(spec, 0).critic.state_dict()], [8])
        >>> snaps.scales = torch.tensor([2.0, 4.0])
        >>> snaps.combine(torch.tensor([[2.0, 0.0]]), torch.tensor([0.0, 4.0]))
        tensor([2., 2.])
        """
        if self.scales is None:
            raise RuntimeError("The snapshots' scales are set at fit; these have none.")
        scales = self.scales.to(own_value.device, own_value.dtype)
        every = torch.cat([snapshot_values, own_value[None]])
        return (every / scales[:, None]).mean(0) * scales[-1]

    def to(self, device: torch.device | str) -> "CriticSnapshots":
        """A copy of these critics on ``device`` (as :meth:`MemoryBank.to`, ``self`` stays)."""
        moved = copy.copy(self)
        moved.critics = [_load_critic(self.spec, critic.state_dict(), device) for critic in self.critics]
        moved.scales = None if self.scales is None else self.scales.to(device)
        return moved

    def __getstate__(self) -> dict:
        # CPU tensors in the default layout: a pickle loads on any machine.
        weights = [contiguous_state(critic) for critic in self.critics]
        scales = None if self.scales is None else self.scales.to("cpu")
        return {"spec": self.spec, "epochs": self.epochs, "weights": weights, "scales": scales}

    def __setstate__(self, state: dict) -> None:
        self.spec, self.epochs, self.scales = state["spec"], state["epochs"], state["scales"]
        self.critics = [_load_critic(self.spec, weights, "cpu") for weights in state["weights"]]


def _load_critic(spec: NetworkSpec, state: dict[str, Tensor], device: torch.device | str) -> nn.Module:
    critic = empty_module(lambda: (ConvCritic if spec.is_image else DenseCritic)(spec))
    critic.load_state_dict(state)
    return to_fast_layout(critic, device).eval()
