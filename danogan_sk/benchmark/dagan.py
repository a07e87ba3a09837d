"""D-AnoGAN's benchmark rows: fixed alpha, alpha from validation, and the alpha grid.

One model is fitted per run; its score components are computed once on the
test set and every row is a different combination of them, so the rows
differ only in how ``alpha`` was chosen:

* ``D-AnoGAN (alpha=0.9)``: the thesis's fixed weight (eq. 5.1).
* ``D-AnoGAN (alpha from validation)``: chosen without test labels. A tenth
  of the normal training data is held out (:func:`normal_validation_split`)
  and the model is fitted on the rest. On the held-out normal samples each
  term's spread is measured (interquartile range, falling back to the
  standard deviation and then to 1 when it is zero); the score is the
  equal-weight sum of the two terms divided by their spreads, which is
  eq. 5.1 with ``alpha = s_mse / (s_mse + s_kl)``.
* the alpha grid (0, 0.1, ..., 1): only for the AUC-against-alpha figure and
  the column labelled "oracle" (best alpha on the test labels), computed by
  the tables from the stored curves.
"""

from __future__ import annotations

import numpy as np

from ..datasets import normal_validation_split
from ..estimator import DAnoGANDetector
from ..scoring import anomaly_score

__all__ = ["DAnoGANModel", "validation_alpha", "FIXED_ALPHA", "ALPHA_GRID", "ROW_FIXED", "ROW_VALIDATION"]

#: The thesis's weight for MNIST and Fashion-MNIST (section 5.4).
FIXED_ALPHA = 0.9
#: Alphas whose test AUC is recorded (figure and oracle only).
ALPHA_GRID = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 11))
ROW_FIXED = f"D-AnoGAN (alpha={FIXED_ALPHA})"
ROW_VALIDATION = "D-AnoGAN (alpha from validation)"
#: Share of the normal training data held out to choose alpha.
VALIDATION_FRACTION = 0.1


def _spread(values: np.ndarray) -> float:
    """Interquartile range, else standard deviation, else 1: a positive scale."""
    q1, q3 = np.percentile(values, [25, 75])
    for candidate in (q3 - q1, np.std(values)):
        if np.isfinite(candidate) and candidate > 0:
            return float(candidate)
    return 1.0


def validation_alpha(components: dict[str, np.ndarray]) -> float:
    """The alpha that weighs ``mse`` and ``kl`` equally once each is divided by its spread.

    ``0.5 * mse / s_mse + 0.5 * kl / s_kl`` is proportional to eq. 5.1 with
    ``alpha = s_mse / (s_mse + s_kl)``.

    Parameters
    ----------
    components : dict of ndarray
        ``score_components`` of normal validation samples (no test data).

    Returns
    -------
    float in (0, 1)

    Examples
    --------
    >>> comps = {"mse": np.array([0.0, 1.0, 2.0, 3.0]), "kl": np.array([0.0, 0.1, 0.2, 0.3])}
    >>> round(validation_alpha(comps), 4)
    0.9091
    """
    s_mse, s_kl = _spread(components["mse"]), _spread(components["kl"])
    return s_mse / (s_mse + s_kl)


class DAnoGANModel:
    """A :class:`~danogan_sk.DAnoGANDetector` fitted for the benchmark, with its alpha rows.

    Parameters
    ----------
    seed : int
        ``random_state`` of the detector and of the validation split.
    epochs : int
        Phase 1 epochs; phase 2 ("xzx") gets a fifth of them, at least one,
        the ratio of the detector's defaults.
    **params
        Any other public ``DAnoGANDetector`` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((60, 1, 8, 8), dtype=np.float32)
    >>> model = DAnoGANModel(seed=0, epochs=1, n_generators=2).fit(X)  # doctest: +SKIP
    >>> rows, grid = model.score_variants(X)  # doctest: +SKIP
    >>> sorted(rows)  # doctest: +SKIP
    ['D-AnoGAN (alpha from validation)', 'D-AnoGAN (alpha=0.9)']
    """

    def __init__(self, seed: int, epochs: int, **params) -> None:
        self.seed = seed
        self.epochs = epochs
        self.params = params

    def fit(self, X: np.ndarray) -> "DAnoGANModel":
        split = normal_validation_split(X, VALIDATION_FRACTION, random_state=self.seed)
        self.detector_ = DAnoGANDetector(
            n_epochs=self.epochs,
            xzx_epochs=max(1, self.epochs // 5),
            alpha=FIXED_ALPHA,
            random_state=self.seed,
            **self.params,
        ).fit(split.X_fit)
        self.alpha_ = validation_alpha(self.detector_.score_components(split.X_val))
        return self

    def score_variants(self, X: np.ndarray) -> tuple[dict[str, np.ndarray], dict[float, np.ndarray]]:
        """Table rows and alpha-grid scores from one pass of the networks over ``X``."""
        components = self.detector_.score_components(X)
        rows = {
            ROW_FIXED: anomaly_score(components, FIXED_ALPHA),
            ROW_VALIDATION: anomaly_score(components, self.alpha_),
        }
        grid = {alpha: anomaly_score(components, alpha) for alpha in ALPHA_GRID}
        return rows, grid

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        """The label-free row: alpha chosen on normal validation data."""
        return anomaly_score(self.detector_.score_components(X), self.alpha_)

    def figure_data(self, X: np.ndarray, y: np.ndarray, n_grid: int = 8,
                    n_embed: int = 500) -> dict[str, np.ndarray]:
        """Arrays behind the figures: bandit history, reconstructions, latent codes.

        ``n_grid`` normal and ``n_grid`` anomalous test images with their
        reconstructions (figure 4.9), and the latent codes and clusters of up
        to ``n_embed`` of each (figure 5.5). The labels only pick which
        samples are drawn; nothing here is used for scoring.
        """
        rng = np.random.default_rng(self.seed)
        picks = {}
        for label, size in (("grid", n_grid), ("embed", n_embed)):
            rows = [rng.permutation(np.flatnonzero(y == c))[:size] for c in (0, 1)]
            picks[label] = np.sort(np.concatenate(rows))
        grid = self._reconstruct(X[picks["grid"]])
        embed = self._reconstruct(X[picks["embed"]])
        return {
            "bandit_probabilities": np.asarray(self.detector_.history_["bandit_probabilities"]),
            "grid_query": X[picks["grid"]],
            "grid_reconstruction": grid["reconstruction"],
            "grid_label": y[picks["grid"]],
            "embed_latent": embed["latent"],
            "embed_cluster": embed["cluster"],
            "embed_label": y[picks["embed"]],
        }

    def _reconstruct(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Latent code, cluster and reconstruction (in the data's units) of each image."""
        latent, cluster = self.detector_.encode(X)
        return {
            "latent": latent,
            "cluster": cluster,
            "reconstruction": self.detector_.reconstruct(X).reshape(X.shape),
        }

    def record_params(self) -> dict:
        """What the run record keeps: the detector's parameters and the chosen alpha."""
        params = {k: v for k, v in self.detector_.get_params().items() if k != "memory"}
        return dict(params, validation_alpha=self.alpha_)
