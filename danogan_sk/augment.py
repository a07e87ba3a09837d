"""Random translations of image batches: the critic's data augmentation in training.

With ``augment_shift > 0`` the critic sees every real and every generated
image moved by a random whole number of pixels, as differentiable
augmentation (DiffAugment; Zhao et al., 2020) does for GANs trained on
few images: the same kind of transform on both sides, so that the critic
cannot tell real from fake by it, and differentiable, so that the
generators learn through it. Tabular rows are never moved.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["random_moves", "translated"]


def random_moves(
    n: int, max_shift: int, generator: torch.Generator, device: torch.device
) -> Tensor:
    """``n`` moves ``(rows, columns)``, each coordinate uniform on ``-max_shift .. max_shift``.

    Returns
    -------
    Tensor of shape (n, 2), integer
    """
    return torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator, device=device)


def translated(x: Tensor, moves: Tensor, fill: float, max_shift: int | None = None) -> Tensor:
    """Images ``x`` of shape (n, C, H, W), each moved by its row of ``moves``.

    Image ``i`` moves ``moves[i, 0]`` pixels down and ``moves[i, 1]`` right;
    the uncovered border takes the value ``fill``. Moves larger than the
    image leave only ``fill``. Gradients flow back to ``x``. ``max_shift``,
    a bound on every ``|move|`` when the caller knows one, saves reading the
    moves back from an accelerator.

    Examples
    --------
    >>> x = torch.arange(6.0).reshape(1, 1, 2, 3)
    >>> translated(torch.cat([x, x]), torch.tensor([[0, 1], [-1, 0]]), fill=-1.0)
    tensor([[[[-1.,  0.,  1.],
              [-1.,  3.,  4.]]],
    <BLANKLINE>
    <BLANKLINE>
            [[[ 3.,  4.,  5.],
              [-1., -1., -1.]]]])
    """
    n, channels, height, width = x.shape
    if max_shift is not None:
        pad = max_shift
    else:
        pad = int(moves.abs().max()) if moves.numel() else 0
    if pad == 0:
        return x
    padded = F.pad(x, (pad, pad, pad, pad), value=fill)
    moves = moves.to(x.device)
    # Output pixel (r, c) of image i reads padded pixel (r + pad - move_r, c + pad - move_c).
    rows = torch.arange(height, device=x.device) + pad - moves[:, :1]
    columns = torch.arange(width, device=x.device) + pad - moves[:, 1:]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(channels, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], columns[:, None, None, :]]
