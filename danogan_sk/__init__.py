"""D-AnoGAN anomaly detection for disconnected data manifolds, for scikit-learn and PyOD."""

__version__ = "0.5.0"

from .estimator import THESIS_PARAMS, DAnoGANDetector  # noqa: E402

__all__ = ["DAnoGANDetector", "THESIS_PARAMS", "__version__"]
