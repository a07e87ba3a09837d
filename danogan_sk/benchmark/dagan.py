"""D-AnoGAN's benchmark rows: the thesis's score, alpha from validation, the default score.

One model is fitted per run; its score components are computed once on the
test set and every row is a different combination of them:

* ``D-AnoGAN (alpha=0.9)``: the thesis's score (eq. 5.1) at its fixed weight.
* ``D-AnoGAN (alpha from validation)``: eq. 5.1 with alpha chosen without
  test labels. A tenth of the normal training data is held out
  (:func:`normal_validation_split`) and the model is fitted on the rest. On
  the held-out normal samples each term's spread is measured
  (:func:`~danogan_sk.scoring.term_spreads`); the score is the equal-weight
  sum of the two terms divided by their spreads, which is eq. 5.1 with
  ``alpha = s_mse / (s_mse + s_kl)``.
* ``D-AnoGAN (default score)``: what ``DAnoGANDetector()`` returns at its
  defaults (the critic's value and the distance to the nearest training
  sample in the critic's features, each divided by its spread on the
  training data; the ``patch`` term when ``patch_weight="auto"`` chose it).
* ``D-AnoGAN (default score, patch_weight=0)``: the same fit scored with
  ``patch_weight=0`` (version 0.5.0's default score), beside the choice.
* the alpha grid (0, 0.1, ..., 1) of eq. 5.1: only for the AUC-against-alpha
  figure and the column labelled "oracle" (best alpha on the test labels),
  computed by the tables from the stored curves.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from ..datasets import normal_validation_split
from ..estimator import THESIS_PARAMS, DAnoGANDetector
from ..scoring import anomaly_score, term_spreads

__all__ = [
    "DAnoGANModel", "phase2_epochs", "validation_alpha", "thesis_and_default_scores", "FIXED_ALPHA", "ALPHA_GRID", "ROW_FIXED", "ROW_VALIDATION",
    "ROW_DEFAULT", "ROW_NO_PATCH", "ROWS",
]

#: The thesis's weight for MNIST and Fashion-MNIST (section 5.4).
FIXED_ALPHA = THESIS_PARAMS["alpha"]
#: Alphas whose test AUC is recorded (figure and oracle only).
ALPHA_GRID = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 11))
ROW_FIXED = f"D-AnoGAN (alpha={FIXED_ALPHA})"
ROW_VALIDATION = "D-AnoGAN (alpha from validation)"
ROW_DEFAULT = "D-AnoGAN (default score)"
ROW_NO_PATCH = "D-AnoGAN (default score, patch_weight=0)"
#: Every row a fit can report, in table order.
ROWS = (ROW_FIXED, ROW_VALIDATION, ROW_DEFAULT, ROW_NO_PATCH)
#: Share of the normal training data held out to choose alpha.
VALIDATION_FRACTION = 0.1


def phase2_epochs(epochs: int) -> int:
    """Phase-2 ("xzx") epochs beside ``epochs`` of phase 1: a fifth of them, at least one.

    The ratio of the detector's defaults. A benchmark budget's epoch timing
    (:data:`~danogan_sk.benchmark.methods.DANOGAN_TIMING_EPOCHS`) fits 5 and
    10 epochs, whose difference has phase 2 in this proportion.

    Examples
    --------
    >>> [phase2_epochs(e) for e in (1, 5, 10, 52)]
    [1, 1, 2, 10]
    """
    return max(1, epochs // 5)


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
    >>> comps = {"mse": np.array([0.0, 1.0, 2.0, 3.0]), "kl": np.array([0.0, 0.1, 0.2, 0.3]),
    ...          "critic": np.zeros(4)}
    >>> round(validation_alpha(comps), 4)
    0.9091
    """
    spreads = term_spreads(components)
    return spreads["mse"] / (spreads["mse"] + spreads["kl"])


def thesis_and_default_scores(
    detector: DAnoGANDetector, components: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly scores of eq. 5.1 at the thesis's alpha, and at the detector's own score settings.

    ``components`` are ``detector.score_components`` of the queries.
    """
    return anomaly_score(components, FIXED_ALPHA), detector.anomaly_score_from_components(components)


def without_patch(detector: DAnoGANDetector, components: dict[str, np.ndarray]) -> np.ndarray:
    """Anomaly scores at the detector's settings but ``patch_weight=0`` (the detector is not changed)."""
    return copy.copy(detector).set_params(patch_weight=0.0).anomaly_score_from_components(components)


class DAnoGANModel:
    """A :class:`~danogan_sk.DAnoGANDetector` fitted for the benchmark, with its alpha rows.

    Parameters
    ----------
    seed : int
        ``random_state`` of the detector and of the validation split.
    epochs : int
        Phase 1 epochs; phase 2 ("xzx") gets a fifth of them, at least one,
        the ratio of the detector's defaults, unless ``params`` sets
        ``xzx_epochs``.
    label : str, default="D-AnoGAN"
        Prefix of the row names. Only the model labelled ``"D-AnoGAN"``
        records the alpha grid, so that the oracle row is the main model's.
    rows : sequence of str, default=ROWS
        Which of ``ROW_FIXED``, ``ROW_VALIDATION``, ``ROW_DEFAULT`` and
        ``ROW_NO_PATCH`` to report.
    **params
        Any other public ``DAnoGANDetector`` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((60, 1, 8, 8), dtype=np.float32)
    >>> model = DAnoGANModel(seed=0, epochs=1, n_generators=2).fit(X)  # doctest: +SKIP
    >>> rows, grid = model.score_variants(X)  # doctest: +SKIP
    >>> sorted(rows)  # doctest: +SKIP
    ['D-AnoGAN (alpha from validation)', 'D-AnoGAN (alpha=0.9)', 'D-AnoGAN (default score)']
    """

    def __init__(self, seed: int, epochs: int, label: str = "D-AnoGAN",
                 rows: Sequence[str] = ROWS, **params) -> None:
        unknown = set(rows) - set(ROWS)
        if unknown:
            raise ValueError(f"Unknown D-AnoGAN rows {sorted(unknown)}.")
        self.seed = seed
        self.epochs = epochs
        self.label = label
        self.rows = tuple(rows)
        self.params = params

    def fit(self, X: np.ndarray) -> "DAnoGANModel":
        split = normal_validation_split(X, VALIDATION_FRACTION, random_state=self.seed)
        settings = dict(n_epochs=self.epochs, xzx_epochs=phase2_epochs(self.epochs),
                        random_state=self.seed)
        self.detector_ = DAnoGANDetector(**{**settings, **self.params}).fit(split.X_fit)
        self.alpha_ = validation_alpha(self.detector_.score_components(split.X_val))
        return self

    def score_variants(self, X: np.ndarray) -> tuple[dict[str, np.ndarray], dict[float, np.ndarray]]:
        """Table rows and alpha-grid scores of ``X``."""
        components = self.detector_.score_components(X)
        thesis, default = thesis_and_default_scores(self.detector_, components)
        rows = {
            ROW_FIXED: thesis,
            ROW_VALIDATION: anomaly_score(components, self.alpha_),
            ROW_DEFAULT: default,
            ROW_NO_PATCH: without_patch(self.detector_, components),
        }
        rows = {name: rows[name] for name in self.rows}
        if self.label != "D-AnoGAN":
            rows = {name.replace("D-AnoGAN", self.label, 1): value for name, value in rows.items()}
            return rows, {}
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
        aucs = self.detector_.pseudo_anomaly_aucs_
        return dict(params, validation_alpha=self.alpha_, patch_weight_=self.detector_.patch_weight_,
                    pseudo_anomaly_aucs_=None if aucs is None else [float(a) for a in aucs])
