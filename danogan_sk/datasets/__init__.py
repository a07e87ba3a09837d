"""Data sets of the D-AnoGAN evaluation: the Wheel generator, MNIST loaders, split protocol."""

from ._home import get_data_home
from .mnist import load_dataset, load_fashion_mnist, load_mnist
from .splits import (
    AnomalySplit,
    ValidationSplit,
    leave_one_class_out,
    load_protocol_pool,
    normal_anomaly_split,
    normal_validation_split,
)
from .wheel import (
    ALL_MANIFOLDS,
    ANOMALOUS_MANIFOLDS,
    INSPECTION_ANOMALIES,
    INSPECTION_MANIFOLDS,
    MANIFOLDS,
    NORMAL_MANIFOLDS,
    SUBTLE_MANIFOLDS,
    WheelSpec,
    base_design,
    get_manifold,
    make_wheels,
    render_wheels,
    write_wheels,
)
from .wheel_benchmarks import WHEEL_BENCHMARKS, WheelBenchmark, get_wheel_benchmark
from .wheel_variation import VARIATIONS, Variation

__all__ = [
    "ALL_MANIFOLDS",
    "ANOMALOUS_MANIFOLDS",
    "AnomalySplit",
    "INSPECTION_ANOMALIES",
    "INSPECTION_MANIFOLDS",
    "MANIFOLDS",
    "NORMAL_MANIFOLDS",
    "SUBTLE_MANIFOLDS",
    "VARIATIONS",
    "ValidationSplit",
    "Variation",
    "WHEEL_BENCHMARKS",
    "WheelBenchmark",
    "WheelSpec",
    "base_design",
    "get_data_home",
    "get_manifold",
    "get_wheel_benchmark",
    "leave_one_class_out",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_protocol_pool",
    "make_wheels",
    "normal_anomaly_split",
    "normal_validation_split",
    "render_wheels",
    "write_wheels",
]
