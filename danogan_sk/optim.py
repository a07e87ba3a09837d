"""The optimizer every training step goes through: Adam, fused where torch has a kernel.

Two rules of correctness live here, in :class:`Adam`'s ``step``, so that no
step can skip them:

* torch's fused CPU Adam walks each parameter's memory in order and assumes
  its gradient and moments do the same; gradients from
  ``torch.autograd.grad`` can have other strides (a transposed matrix), and
  the kernel then silently pairs wrong elements (measured with torch 2.13:
  a 4x6 parameter with a transposed gradient moved 4e-4 away from the
  per-parameter loop's result). Each gradient, and each moment loaded from
  a saved state, is given its parameter's memory order first.
* The fused kernel writes the parameters without bumping their version
  counters. The generators cache their sub-pixel weights by version
  (:meth:`danogan_sk.nn.ConvGenerator._subpixel_params`), and autograd
  checks versions too, so ``step`` bumps them itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor
from torch.autograd.graph import increment_version

__all__ = ["Adam", "in_layout_of"]

#: Devices whose fused Adam kernel torch provides for every floating dtype used here.
_FUSED_ADAM_DEVICES = ("cpu", "cuda")


def in_layout_of(tensor: Tensor, param: Tensor) -> Tensor:
    """``tensor`` with the memory order of ``param``; a copy only when they differ.

    Strides of size-1 dimensions do not change the order, so they are ignored.
    """
    if all(a == b for a, b, size in zip(tensor.stride(), param.stride(), param.shape) if size > 1):
        return tensor
    return torch.empty_like(param).copy_(tensor)


class Adam(torch.optim.Adam):
    """Adam with the thesis's settings; fused into one kernel where torch has one.

    The fused kernel applies the same update as the per-parameter loop
    (equal up to rounding) but in one call for all tensors: the generators
    and encoders hold ``16 * n_generators`` tensors, and their loop of small
    operations took over three times longer (measured at 15 generators).
    ``step`` and ``load_state_dict`` keep the rules of the module docstring.

    Parameters
    ----------
    params : iterable of Tensor
        The parameters to optimise.
    lr : float
        Learning rate.
    betas : tuple of float
        Adam's moment decays.
    weight_decay : float
        L2 penalty.
    """

    def __init__(
        self, params: Iterable[Tensor], lr: float, betas: tuple[float, float], weight_decay: float = 0.0
    ) -> None:
        params = list(params)
        fused = bool(params) and all(p.device.type in _FUSED_ADAM_DEVICES for p in params)
        super().__init__(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)

    def step(self, closure=None):
        """One Adam update of the parameters that have a gradient (see the module docstring)."""
        stepped = []
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    param.grad = in_layout_of(param.grad, param)
                    stepped.append(param)
        loss = super().step(closure)
        # Harmless after the per-parameter loop, whose in-place writes bump
        # the versions already; needed after the fused kernel.
        increment_version(stepped)
        return loss

    def step_with(self, params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> None:
        """Set ``params``' gradients to ``grads`` (from ``torch.autograd.grad``), then :meth:`step`."""
        for param, grad in zip(params, grads):
            param.grad = grad
        self.step()

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a saved state, each moment in its parameter's memory order.

        A checkpoint saved from networks in another layout (another device)
        would otherwise pair moments and parameters element by element wrongly.
        """
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for param in group["params"]:
                moments = self.state.get(param, {})
                for key, value in moments.items():
                    if isinstance(value, Tensor) and value.shape == param.shape:
                        moments[key] = in_layout_of(value, param)
