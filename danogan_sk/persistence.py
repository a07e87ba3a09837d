"""Pickling a fitted detector: CPU weights with a format version, loaded back on any machine."""

from __future__ import annotations

import torch

from . import __version__
from .config import parameter_defaults
from .devices import device_for_loading
from .nn import DAnoGANNetworks, NetworkSpec, contiguous_state, empty_networks, to_fast_layout

__all__ = ["PicklableNetworksMixin", "load_networks"]

# Version of the pickled layout; bumped when a saved detector can no longer be read.
STATE_FORMAT = 2

_DEFAULTS = parameter_defaults()
# The fitted memory banks, kept on the CPU in a pickle.
_BANKS = ("memory_bank_", "latent_bank_")
# Fitted attributes that hold tensors: on the CPU in a pickle, on the detector's device once loaded.
_ON_DEVICE = (*_BANKS, "critic_snapshots_")
# Parameters whose default changes what a fit computes, with the value that a detector
# saved before they existed was computed with.
_BEFORE_ADDED = {"neighbor_shift": 0, "latent_weight": 0.0, "critic_average_epochs": 1,
                 "reconstruction_weight": 0.0, "generator_average_epochs": 1, "augment_shift": 0,
                 "critic_snapshots": 0, "patch_weight": 0.0}


class PicklableNetworksMixin:
    """``__getstate__``/``__setstate__`` for a detector holding torch networks and a memory bank.

    Saved: the weights as CPU tensors (a model fitted on a GPU loads
    anywhere), the package version and :data:`STATE_FORMAT`. Loaded: on the
    saved device when it exists here, else on the CPU with a warning;
    parameters added since the detector was saved take the values it was
    computed with (``neighbor_shift=0``, ``critic_average_epochs=1``,
    ``critic_snapshots=0``, ``generator_average_epochs=1``, ``reconstruction_weight=0``,
    ``latent_weight=0``, as such a detector kept no latent codes; the
    others' defaults).
    """

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state = dict(state, _danogan_version=__version__, _danogan_state_format=STATE_FORMAT)
        if isinstance(state.get("networks_"), torch.nn.Module):
            # CPU tensors only, so a model fitted on a GPU loads anywhere.
            state["networks_"] = contiguous_state(state["networks_"])
        for name in _ON_DEVICE:
            if state.get(name) is not None:
                state[name] = state[name].to("cpu")
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        saved_version = state.pop("_danogan_version", "unknown")
        saved_format = state.pop("_danogan_state_format", None)
        if saved_format != STATE_FORMAT:
            raise ValueError(
                f"This {type(self).__name__} was saved by danogan_sk {saved_version} "
                f"(state format {saved_format}); danogan_sk {__version__} reads state "
                f"format {STATE_FORMAT}. Refit it, or load it with "
                f"danogan_sk=={saved_version}."
            )
        # Parameters added since the detector was saved take the values that leave
        # its behaviour as it was: their defaults, or what it was computed with.
        for name, default in _DEFAULTS.items():
            state.setdefault(name, _BEFORE_ADDED.get(name, default))
        if "memory_bank_" in state:  # fitted before the latent codes were kept
            state.setdefault("latent_bank_", None)
        if "networks_" in state:  # fitted before earlier critics were kept
            state.setdefault("critic_snapshots_", None)
        weights = state.get("networks_")
        if isinstance(weights, dict):
            device = device_for_loading(state["device_"])
            state["device_"] = str(device)
            state["networks_"] = load_networks(state["network_spec_"], weights, device)
            for name in _ON_DEVICE:
                if state.get(name) is not None:
                    state[name] = state[name].to(device)
        super().__setstate__(state)


def load_networks(spec: NetworkSpec, state_dict: dict, device: torch.device) -> DAnoGANNetworks:
    """Networks of ``spec`` with ``state_dict``, on ``device``, in their fast layout, in eval mode."""
    networks = empty_networks(spec)
    networks.load_state_dict(state_dict)
    return to_fast_layout(networks, device).eval()
