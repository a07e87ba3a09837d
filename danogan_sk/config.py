"""Every parameter of the detector, defined once: its group, default and constraint.

Each parameter is a field of one configuration dataclass, by what it
changes: :class:`NetworkConfig` (the architecture), :class:`TrainingConfig`
(the trained weights), :class:`BankConfig` (the memory bank built at fit),
:class:`ScoreConfig` (the score, changeable after fit) and :class:`RunConfig`
(where and how a fit runs, not what it computes). The field's default is the
parameter's default and its metadata holds scikit-learn's constraint; the
detector's ``__init__`` signature, ``_parameter_constraints`` and the PyOD
adapter's signature are derived from these classes. A new parameter is one
field here, its entry in ``DAnoGANDetector``'s docstring (a test checks
both agree) and the code that reads it.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from typing import Any

import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .memory_bank import METRICS

__all__ = [
    "NetworkConfig",
    "TrainingConfig",
    "BankConfig",
    "ScoreConfig",
    "RunConfig",
    "CONFIGS",
    "parameter_constraints",
    "parameter_defaults",
    "keyword_signature",
]


def _param(default: Any, *constraints: Any) -> Any:
    """A dataclass field with a default and scikit-learn's constraints for its value."""
    return field(default=default, metadata={"constraints": list(constraints)})


def _at_least(low: int) -> Interval:
    return Interval(Integral, low, None, closed="left")


_POSITIVE = Interval(Real, 0, None, closed="neither")
_NON_NEGATIVE = Interval(Real, 0, None, closed="left")
_UNIT = Interval(Real, 0, 1, closed="both")


@dataclass(frozen=True)
class NetworkConfig:
    """What fixes the architecture (with the data's shape, see ``nn.NetworkSpec``)."""

    n_generators: int = _param(10, _at_least(1))
    latent_dim: int = _param(30, _at_least(1))
    base_channels: int = _param(32, _at_least(1))
    max_channels: int = _param(256, _at_least(1))
    shared_trunk: bool = _param(False, "boolean")


@dataclass(frozen=True)
class TrainingConfig:
    """Every setting that changes the trained weights (see ``DAnoGANDetector``)."""

    n_epochs: int = _param(10, _at_least(1))
    xzx_epochs: int = _param(2, _at_least(0))
    batch_size: int = _param(64, _at_least(2))
    n_critic: int = _param(5, _at_least(1))
    lr_generator: float = _param(2e-4, _POSITIVE)
    lr_critic: float = _param(2e-4, _POSITIVE)
    lr_encoder: float = _param(1e-3, _POSITIVE)
    lr_classifier: float = _param(2e-4, _POSITIVE)
    lr_bandit: float = _param(1e-3, _POSITIVE)
    lr_xzx: float = _param(1e-3, _POSITIVE)
    gp_weight: float = _param(10.0, _NON_NEGATIVE)
    classifier_weight: float = _param(1.0, _NON_NEGATIVE)
    bandit: bool = _param(True, "boolean")
    entropy_weight: float = _param(1000.0, _NON_NEGATIVE)
    entropy_decay: float | str = _param("auto", StrOptions({"auto"}), Interval(Real, 0, 1, closed="right"))
    validation_fraction: float | None = _param(None, Interval(Real, 0, 1, closed="neither"), None)
    n_iter_no_change: int = _param(5, _at_least(1))
    critic_average_epochs: int = _param(3, _at_least(1))
    critic_snapshots: int = _param(4, _at_least(0))
    generator_average_epochs: int = _param(1, _at_least(1))
    reconstruction_weight: float = _param(0.0, _NON_NEGATIVE)
    augment_shift: int = _param(0, _at_least(0))


@dataclass(frozen=True)
class BankConfig:
    """The memory bank of critic features, built at ``fit``."""

    memory_bank_size: int = _param(5000, _at_least(0))
    n_neighbors: int = _param(1, _at_least(1))
    neighbor_metric: str = _param("euclidean", StrOptions(set(METRICS)))
    feature_pool: int | None = _param(None, _at_least(1), None)
    neighbor_shift: int = _param(1, _at_least(0))


@dataclass(frozen=True)
class ScoreConfig:
    """How the score terms combine, and the threshold: act at scoring time, no refit needed."""

    alpha: float = _param(0.0, _UNIT)
    critic_weight: float = _param(0.25, _UNIT)
    neighbor_weight: float = _param(0.65, _UNIT)
    latent_weight: float = _param(0.1, _UNIT)
    patch_weight: float | str = _param("auto", _UNIT, StrOptions({"auto"}))
    scale_terms: bool = _param(True, "boolean")
    contamination: float = _param(0.1, Interval(Real, 0, 0.5, closed="right"))


@dataclass(frozen=True)
class RunConfig:
    """Where and how a fit runs; none of these changes what it computes (but the seed)."""

    image_shape: tuple[int, ...] | None = _param(None, tuple, list, None)
    device: str = _param("auto", str, torch.device)
    memory: Any = _param(None, str, HasMethods("cache"), None)
    checkpoint_dir: str | os.PathLike | None = _param(None, str, os.PathLike, None)
    warm_start: bool = _param(False, "boolean")
    random_state: Any = _param(None, "random_state")
    verbose: int = _param(0, "verbose")


#: The configuration classes, in the order of the detector's parameters.
CONFIGS = (NetworkConfig, TrainingConfig, BankConfig, ScoreConfig, RunConfig)


def parameter_defaults() -> dict[str, Any]:
    """Every parameter's default, by name, in the order of :data:`CONFIGS`."""
    return {f.name: f.default for config in CONFIGS for f in fields(config)}


def parameter_constraints() -> dict[str, list]:
    """scikit-learn's ``_parameter_constraints`` of every parameter."""
    return {f.name: list(f.metadata["constraints"]) for config in CONFIGS for f in fields(config)}


def keyword_signature(first: str | None = None) -> inspect.Signature:
    """``__init__(self, *, name=default, ...)`` for every parameter; ``first`` (if given) leads."""
    annotations = {f.name: f.type for config in CONFIGS for f in fields(config)}
    names = list(parameter_defaults())
    if first is not None:
        names.remove(first)
        names.insert(0, first)
    defaults = parameter_defaults()
    keyword = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(n, keyword, default=defaults[n], annotation=annotations[n]) for n in names]
    )


def from_params(config: type, params: dict[str, Any]) -> Any:
    """An instance of the configuration class ``config`` from a dict holding its parameters."""
    return config(**{f.name: params[f.name] for f in fields(config)})
