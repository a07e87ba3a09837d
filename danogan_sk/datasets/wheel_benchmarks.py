"""The two Wheel benchmarks: which manifolds, which camera, which image size.

* ``"wheel"``: the D-AnoGAN thesis's data set, the eight normal manifolds and
  its two anomalies, no nuisance variation, 32 px by default.
* ``"wheel-inspection"``: the same normal manifolds and four anomalies (the
  thesis's two, a cracked spoke and a missing bolt hole) under the
  ``"inspection"`` camera variation, 64 px by default.

Both are tested the same way: one detector fitted on normal wheels, tested
against each anomalous manifold.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Optional, Tuple

from .wheel import (
    ALL_MANIFOLDS,
    ANOMALOUS_MANIFOLDS,
    INSPECTION_ANOMALIES,
    INSPECTION_MANIFOLDS,
    WheelSpec,
    make_wheels,
)

__all__ = ["WheelBenchmark", "WHEEL_BENCHMARKS", "get_wheel_benchmark"]


@dataclass(frozen=True)
class WheelBenchmark:
    """A Wheel benchmark: manifolds (normal first), anomalies, camera and default size.

    Attributes
    ----------
    name : str
    manifolds : tuple of WheelSpec
        Every manifold; the class labels are indices into it.
    anomalies : tuple of WheelSpec
        The anomalous ones among ``manifolds``.
    variation : str
        Preset of :data:`~danogan_sk.datasets.wheel_variation.VARIATIONS`.
    image_size : int
        Default image side in pixels.
    """

    name: str
    manifolds: Tuple[WheelSpec, ...]
    anomalies: Tuple[WheelSpec, ...]
    variation: str
    image_size: int

    @property
    def class_names(self) -> list:
        """Name of each class label."""
        return [spec.name for spec in self.manifolds]

    @property
    def anomaly_labels(self) -> list:
        """Labels of the anomalous manifolds."""
        return [self.manifolds.index(spec) for spec in self.anomalies]

    def make(self, per_manifold: int, seed: int, image_size: Optional[int] = None,
             return_params: bool = False) -> tuple:
        """``per_manifold`` images of every manifold, shuffled: ``(X, y)``.

        Parameters
        ----------
        per_manifold : int
        seed : int
        image_size : int or None
            ``None`` for the benchmark's default.
        return_params : bool, default=False
            Also return every image's geometry, as
            :func:`~danogan_sk.datasets.make_wheels` does: ``(X, y, params)``,
            the same ``X`` and ``y``.

        Examples
        --------
        >>> bench = get_wheel_benchmark("wheel")
        >>> X, y = bench.make(2, seed=0)
        >>> X2, y2, params = bench.make(2, seed=0, return_params=True)
        >>> bool((X == X2).all()), params["rim_diameter"].shape
        (True, (20,))
        """
        size = self.image_size if image_size is None else image_size
        return make_wheels([per_manifold] * len(self.manifolds), self.manifolds,
                           image_size=size, random_state=seed, variation=self.variation,
                           return_params=return_params)


#: The Wheel benchmarks by name.
WHEEL_BENCHMARKS: Mapping[str, WheelBenchmark] = MappingProxyType({
    "wheel": WheelBenchmark("wheel", ALL_MANIFOLDS, ANOMALOUS_MANIFOLDS, "thesis", 32),
    "wheel-inspection": WheelBenchmark("wheel-inspection", INSPECTION_MANIFOLDS,
                                       INSPECTION_ANOMALIES, "inspection", 64),
})


def get_wheel_benchmark(name: str) -> WheelBenchmark:
    """The Wheel benchmark called ``name``.

    Raises
    ------
    ValueError
        If there is none of that name.

    Examples
    --------
    >>> get_wheel_benchmark("wheel-inspection").image_size
    64
    """
    try:
        return WHEEL_BENCHMARKS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown Wheel benchmark {name!r}; choose one of {list(WHEEL_BENCHMARKS)}"
        ) from None
