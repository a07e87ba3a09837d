"""D-AnoGAN anomaly detection for disconnected data manifolds, for scikit-learn and PyOD."""

__version__ = "0.6.2"

from .estimator import THESIS_PARAMS, DAnoGANDetector  # noqa: E402
from .pseudo_anomalies import pseudo_anomaly_aucs  # noqa: E402

__all__ = ["DAnoGANDetector", "THESIS_PARAMS", "pseudo_anomaly_aucs", "__version__"]
