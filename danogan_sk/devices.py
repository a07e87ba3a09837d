"""Which torch device a detector trains and loads on."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

import torch

__all__ = ["deterministic_kernels", "device_for_loading", "resolve_device"]


def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; anything else must exist here."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} "
                "CUDA devices are available."
            )
    return resolved


def device_for_loading(device: str) -> torch.device:
    """The saved device if it exists here, else the CPU with a warning."""
    try:
        return resolve_device(device)
    except ValueError:
        warnings.warn(
            f"This detector was fitted on {device!r}, which is not available here; "
            "it is loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")


#: Fits inside :func:`deterministic_kernels` now, and the cuDNN switches found by the first.
_deterministic_users = {"count": 0, "saved": (False, False)}
_deterministic_lock = threading.Lock()


@contextlib.contextmanager
def deterministic_kernels(device: torch.device | str) -> Iterator[None]:
    """Run the block with cuDNN's deterministic algorithms when ``device`` is a CUDA GPU.

    Some of cuDNN's backward convolutions add with atomics, so two fits with
    the same ``random_state`` would round differently and, over an epoch of
    GAN updates, drift apart. ``torch.backends.cudnn.deterministic`` and
    ``benchmark`` are process-wide switches: they are set while any block
    runs (fits in several threads share them) and restored, to what they were
    before the first, when the last one ends. Elsewhere nothing changes.

    Examples
    --------
    >>> with deterministic_kernels("cpu"):
    ...     torch.backends.cudnn.deterministic
    False
    """
    if torch.device(device).type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    with _deterministic_lock:
        if _deterministic_users["count"] == 0:
            _deterministic_users["saved"] = cudnn.deterministic, cudnn.benchmark
            cudnn.deterministic, cudnn.benchmark = True, False
        _deterministic_users["count"] += 1
    try:
        yield
    finally:
        with _deterministic_lock:
            _deterministic_users["count"] -= 1
            if _deterministic_users["count"] == 0:
                cudnn.deterministic, cudnn.benchmark = _deterministic_users["saved"]
