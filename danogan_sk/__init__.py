"""D-AnoGAN anomaly detection for disconnected data manifolds, for scikit-learn and PyOD."""

__version__ = "0.1.0"
