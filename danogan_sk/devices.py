"""Which torch device a detector trains and loads on."""

from __future__ import annotations

import warnings

import torch

__all__ = ["device_for_loading", "resolve_device"]


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
