"""Data-parallel training over the processes of an initialised ``torch.distributed`` group.

Under ``torchrun --nproc_per_node=K`` (after ``torch.distributed.init_process_group``),
every process holds the same data and the same networks and draws the same
random numbers; each trains on its ``1/K`` share of the rows of every batch
(:func:`shard`). Before each optimiser step the gradients are averaged over
the processes (:func:`average_gradients`), which for the mean losses used
here is the gradient of the whole batch; so every process applies the same
update and ends with the same networks as one process on the whole batch,
up to float rounding. The cluster classifier normalises its batch: it sees
the fake features of the whole batch (:func:`gather_rows`, which carries
gradients back to each process's share) so that its BatchNorm statistics
are those of the whole batch too.

Without an initialised group (or with one process) every function here
returns its input unchanged, so single-process training is untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["world_size", "shard", "gather_rows", "average_gradients", "average_parameter_gradients",
           "average_", "mean_record", "check_replicas"]


def world_size() -> int:
    """Processes training together: the initialised group's size, else 1."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def shard(rows: Tensor) -> Tensor:
    """This process's share of ``rows``: the ``rank``-th of ``world_size()`` equal blocks."""
    size = world_size()
    if size == 1:
        return rows
    if rows.shape[0] % size:
        raise ValueError(f"{rows.shape[0]} rows cannot be split evenly over {size} processes")
    block = rows.shape[0] // size
    rank = torch.distributed.get_rank()
    return rows[rank * block : (rank + 1) * block]


class _GatherRows(torch.autograd.Function):
    """All processes' rows in rank order; backward sums every process's gradient of a share.

    Written out rather than taken from ``torch.distributed.nn`` because the
    gradients arriving here may be channels-last, and a collective copies
    memory in storage order: every buffer is made contiguous first.
    """

    @staticmethod
    def forward(ctx, rows: Tensor) -> Tensor:  # type: ignore[override]
        rows = rows.contiguous()
        parts = [torch.empty_like(rows, memory_format=torch.contiguous_format)
                 for _ in range(world_size())]
        torch.distributed.all_gather(parts, rows)
        ctx.block = rows.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        total = grad.clone(memory_format=torch.contiguous_format)
        torch.distributed.all_reduce(total)
        start = torch.distributed.get_rank() * ctx.block
        return total[start : start + ctx.block]


def gather_rows(rows: Tensor) -> Tensor:
    """Every process's ``rows``, concatenated in rank order; gradients flow back to each share.

    The gradient a share receives is the sum of every process's gradient of
    it: when all processes compute the same loss of the gathered rows, it is
    ``world_size()`` times that loss's gradient, which the average of the
    parameters' gradients over the processes divides back.
    """
    if world_size() == 1:
        return rows
    return _GatherRows.apply(rows)


def average_gradients(grads: Sequence[Tensor | None], params: Sequence[Tensor]
                      ) -> list[Tensor | None]:
    """The mean of each parameter's gradient over the processes, in one collective call.

    A gradient is ``None`` where a process did not use the parameter (a
    generator none of its rows were drawn from); it counts as zero there, and
    stays ``None`` only if no process used it, as in one process on the
    whole batch.
    """
    size = world_size()
    if size == 1:
        return list(grads)
    filled = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
    used = torch.tensor([g is not None for g in grads], dtype=filled[0].dtype,
                        device=filled[0].device)
    flat = torch.cat([g.reshape(-1) for g in filled] + [used])
    torch.distributed.all_reduce(flat)
    used = (flat[-len(filled):] > 0).tolist()
    means = (flat[: -len(filled)] / size).split([g.numel() for g in filled])
    return [mean.view(p.shape) if anyone else None for mean, p, anyone in zip(means, params, used)]


def average_parameter_gradients(params: Sequence[Tensor]) -> None:
    """Replace each parameter's ``.grad`` with its mean over the processes (see :func:`average_gradients`)."""
    if world_size() == 1:
        return
    params = list(params)
    for param, grad in zip(params, average_gradients([p.grad for p in params], params)):
        param.grad = grad


def average_(tensor: Tensor) -> Tensor:
    """``tensor`` replaced in place by its mean over the processes."""
    size = world_size()
    if size > 1:
        torch.distributed.all_reduce(tensor)
        tensor /= size
    return tensor


def _collective_device() -> torch.device:
    """Where the group's collectives take their tensors: the current GPU for NCCL, else the CPU."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def mean_record(record: dict[str, float]) -> dict[str, float]:
    """An epoch's mean losses averaged over the processes (each saw an equal share)."""
    if world_size() == 1 or not record:
        return record
    values = torch.tensor(list(record.values()), dtype=torch.float64, device=_collective_device())
    return dict(zip(record, average_(values).tolist()))


def check_replicas(X: Tensor, batch_size: int) -> None:
    """Raise unless every process holds the same data and the batch splits evenly over them.

    Raises
    ------
    ValueError
        Naming the batch size and process count, or the mismatch of the data.
    """
    size = world_size()
    if size == 1:
        return
    if batch_size % size:
        raise ValueError(f"batch_size={batch_size} must be a multiple of the {size} processes "
                         "of torch.distributed: each trains on an equal share of every batch")
    summary = torch.tensor([float(X.shape[0]), X.double().sum().item()], dtype=torch.float64,
                           device=_collective_device())
    low, high = summary.clone(), summary.clone()
    torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
    torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
    if not torch.equal(low, high):
        raise ValueError("the processes of torch.distributed were given different training data; "
                         "fit every process on the same X")
