"""The methods a benchmark compares, behind one small interface.

A :class:`Method` makes an unfitted model from a seed and an epoch budget.
A model has ``fit(X)`` (normal images only) and ``anomaly_score(X)`` (higher
is more anomalous). Images arrive as float32 arrays ``(n, C, H, W)`` with
values in [0, 1]; flat methods reshape them themselves.

A model may also offer ``score_variants(X) -> (rows, alpha_grid)``: several
table rows from one fit (D-AnoGAN's fixed and validation alpha), and the
scores over a grid of alpha for the AUC-against-alpha figure and the oracle
column. :func:`score_variants` gives every model that form.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Method",
    "Model",
    "METHODS",
    "THESIS_METHOD",
    "PyODModel",
    "RawPixelNN",
    "on_polar_spectrum",
    "score_variants",
    "timed_fit_and_score",
    "flatten",
]


class Model(Protocol):
    """What a benchmark method builds: fit on normal data, score test data."""

    def fit(self, X: np.ndarray) -> "Model": ...

    def anomaly_score(self, X: np.ndarray) -> np.ndarray: ...


#: Rows of the training data timed to turn a time budget into epochs.
CALIBRATION_ROWS = 1024
#: Epochs of the two fits that time a budget's epochs, for most methods.
TIMING_EPOCHS = (1, 3)
#: D-AnoGAN's: its phase 2 takes a fifth of the epochs (at least one), so fits of 5 and 10
#: epochs have 1 and 2 of it, and their difference holds both phases in a long fit's proportion.
DANOGAN_TIMING_EPOCHS = (5, 10)


@dataclass(frozen=True)
class Method:
    """A named recipe for a model.

    Attributes
    ----------
    name : str
        Registry key and table row (models with variants name their own rows).
    make : callable (seed, epochs) -> Model
        Builds an unfitted model. ``epochs`` bounds its training; methods that
        do not iterate ignore it.
    iterative : bool
        Whether ``epochs`` (and so a time budget) matters.
    description : str
        One line for ``danogan bench --help`` and the docs.
    params : dict
        The settings ``make`` passes on beyond seed and epochs, where one
        recipe serves several methods (the ablations); part of the run key.
    packages : tuple of str
        Packages whose code computes the method's scores; their versions are
        part of the run key, so a new version's results are new runs.
    calibration_rows : int or None
        Training rows that the fits timing a time budget's epochs use; the
        timings are scaled to the full rows linearly. ``None`` times on all
        rows, for a method whose epoch costs more than linearly in the rows.
    timing_epochs : tuple of int
        Epochs of the two fits whose difference is a budget's cost of more
        epochs; they must add work in the proportion of a long fit
        (:data:`DANOGAN_TIMING_EPOCHS` for D-AnoGAN's two phases).

    Examples
    --------
    >>> from danogan_sk.benchmark.methods import METHODS
    >>> model = METHODS["raw-pixel 1-NN"].make(0, 1)
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((20, 1, 4, 4), dtype=np.float32)
    >>> model.fit(X[:10]).anomaly_score(X[10:]).shape
    (10,)
    """

    name: str
    make: Callable[[int, int], Model]
    iterative: bool
    description: str
    params: dict = field(default_factory=dict, hash=False)
    packages: tuple[str, ...] = ("danogan_sk",)
    calibration_rows: int | None = CALIBRATION_ROWS
    timing_epochs: tuple[int, int] = TIMING_EPOCHS

    def __post_init__(self) -> None:
        short, long = self.timing_epochs
        if not 1 <= short < long:
            raise ValueError(f"timing_epochs must be two increasing positive epochs, got {self.timing_epochs}")

    @property
    def key(self) -> str:
        """A canonical string of the parameters and package versions, for run keys."""
        versions = {name: _version(name) for name in self.packages}
        return json.dumps({"params": self.params, "versions": versions}, sort_keys=True, default=repr)


def _version(package: str) -> str:
    """The ``__version__`` of an installed package (of the code imported, not of its metadata)."""
    return str(getattr(importlib.import_module(package), "__version__", "unknown"))


def flatten(X: np.ndarray) -> np.ndarray:
    """Images ``(n, ...)`` -> rows ``(n, n_values)``."""
    return np.asarray(X).reshape(len(X), -1)


def timed_fit_and_score(model, X_train, X_test, score: Callable,
                        clock: Callable[[], float] = time.perf_counter) -> tuple[Any, float, float]:
    """Fit ``model`` on ``X_train``, then ``score(model, X_test)``.

    Returns
    -------
    scores, fit_seconds, score_seconds
        What ``score`` returned, and the seconds of each step on ``clock``
        (by default the wall clock).
    """
    start = clock()
    model.fit(X_train)
    fit_seconds = clock() - start
    start = clock()
    scores = score(model, X_test)
    return scores, fit_seconds, clock() - start


def score_variants(model: Model, name: str, X: np.ndarray) -> tuple[dict, dict]:
    """``(rows, alpha_grid)`` of any model: one row named ``name`` unless it has variants."""
    if isinstance(model, Preprocessed):
        return score_variants(model.model, name, model.front_.transform(X))
    if hasattr(model, "score_variants"):
        return model.score_variants(X)
    return {name: np.asarray(model.anomaly_score(X), dtype=np.float64)}, {}


class RawPixelNN:
    """Distance to the nearest training image, on raw pixels.

    No learning at all, and a strong floor on MNIST-like data: an anomalous
    class is far from every normal training image.

    Examples
    --------
    >>> import numpy as np
    >>> model = RawPixelNN().fit(np.zeros((5, 1, 2, 2)))
    >>> model.anomaly_score(np.ones((1, 1, 2, 2)))
    array([2.])
    """

    def __init__(self, n_neighbors: int = 1) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X: np.ndarray) -> "RawPixelNN":
        from sklearn.neighbors import NearestNeighbors

        # Brute force: on 784 dimensions trees do not prune.
        self.index_ = NearestNeighbors(n_neighbors=self.n_neighbors, algorithm="brute")
        self.index_.fit(flatten(X))
        return self

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        distances, _ = self.index_.kneighbors(flatten(X))
        return distances.mean(axis=1)


class Preprocessed:
    """A model fitted and scored on the rows of a front end (a scikit-learn transformer).

    Parameters
    ----------
    front : transformer
        Cloned and fitted on the training images; its ``transform`` gives
        the rows the model sees, at fit and at scoring time.
    model : Model
        Any benchmark model; its rows (:func:`score_variants`) and
        parameters (``record_params``) pass through.

    Examples
    --------
    >>> import numpy as np
    >>> from danogan_sk.preprocessing import PolarSpectrum
    >>> X = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    >>> model = Preprocessed(PolarSpectrum(n_radii=2, n_angles=8, n_harmonics=3), RawPixelNN()).fit(X[:4])
    >>> model.anomaly_score(np.rot90(X[:2], axes=(2, 3))).round(4)
    array([0., 0.])
    """

    def __init__(self, front, model) -> None:
        self.front = front
        self.model = model

    def fit(self, X: np.ndarray) -> "Preprocessed":
        from sklearn.base import clone

        self.front_ = clone(self.front).fit(X)
        self.model.fit(self.front_.transform(X))
        return self

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return self.model.anomaly_score(self.front_.transform(X))

    def record_params(self) -> dict:
        own = self.model.record_params() if hasattr(self.model, "record_params") else {}
        return dict(own, front=repr(self.front))


class PyODModel:
    """A PyOD detector on flattened, standardised pixels.

    The scaler is PyOD's usual standardisation (``pyod.utils.standardizer``
    is a ``StandardScaler``), fitted on the training data only.

    Parameters
    ----------
    build : callable (n_samples, n_features) -> pyod.models.base.BaseDetector
        Makes the detector; it receives the training data's shape because
        some detectors need it in their constructor (DeepSVDD its features,
        ALAD its rows, to count its steps in passes over them).
    """

    def __init__(self, build: Callable[[int, int], object]) -> None:
        self.build = build

    def fit(self, X: np.ndarray) -> "PyODModel":
        from sklearn.preprocessing import StandardScaler

        rows = flatten(X)
        self.scaler_ = StandardScaler().fit(rows)
        self.detector_ = self.build(*rows.shape)
        self.detector_.fit(self.scaler_.transform(rows))
        return self

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.detector_.decision_function(self.scaler_.transform(flatten(X))))


def _pyod(name: str, description: str, iterative: bool, build, params: dict | None = None,
          calibration_rows: int | None = CALIBRATION_ROWS) -> Method:
    """A :class:`Method` for a PyOD detector; ``build(seed, epochs, n_samples, n_features)``."""

    def make(seed: int, epochs: int) -> PyODModel:
        return PyODModel(lambda n_samples, n_features: build(seed, epochs, n_samples, n_features))

    return Method(name, make, iterative, description, params=params or {}, packages=("danogan_sk", "pyod"),
                  calibration_rows=calibration_rows)


def _knn(seed, epochs, n_samples, n_features):
    from pyod.models.knn import KNN

    return KNN()


def _iforest(seed, epochs, n_samples, n_features):
    from pyod.models.iforest import IForest

    return IForest(random_state=seed)


def _autoencoder(seed, epochs, n_samples, n_features):
    from pyod.models.auto_encoder import AutoEncoder

    # preprocessing=False: the data are standardised already.
    return AutoEncoder(epoch_num=epochs, preprocessing=False, random_state=seed, verbose=0)


def _vae(seed, epochs, n_samples, n_features):
    from pyod.models.vae import VAE

    return VAE(epoch_num=epochs, preprocessing=False, random_state=seed, verbose=0)


def _deep_svdd(seed, epochs, n_samples, n_features):
    from pyod.models.deep_svdd import DeepSVDD

    return DeepSVDD(n_features, epochs=epochs, preprocessing=False, random_state=seed, verbose=0)


#: PyOD's ALAD trains one minibatch of this many rows per "epoch".
ALAD_BATCH_SIZE = 32


def alad_steps(epochs: int, n_samples: int) -> int:
    """PyOD ALAD's ``epochs`` (minibatch steps) for ``epochs`` passes over ``n_samples`` rows.

    Examples
    --------
    >>> alad_steps(2, 4500)
    282
    """
    return epochs * -(-n_samples // ALAD_BATCH_SIZE)


def _alad(seed, epochs, n_samples, n_features):
    from pyod.models.alad import ALAD

    # ALAD takes no seed; its torch initialisation follows the global RNG. Its
    # ``epochs`` are single minibatch steps; the benchmark's epochs are passes
    # over the training data, as for every other method (and its time budget's
    # epoch timing assumes a cost per epoch that grows with the rows).
    return ALAD(epochs=alad_steps(epochs, n_samples), batch_size=ALAD_BATCH_SIZE, preprocessing=False, verbose=0)


def _dagan(label: str = "D-AnoGAN", **params):
    """``make`` of a D-AnoGAN method; ``params`` are the ablation's detector settings."""

    def make(seed: int, epochs: int):
        from .dagan import DAnoGANModel

        return DAnoGANModel(seed, epochs, label=label, **params)

    return make


#: The benchmark names of the methods behind a rotation-invariant front end.
POLAR_DAGAN = "D-AnoGAN on polar spectrum"
POLAR_NN = "polar-spectrum 1-NN"


def _polar_dagan(seed: int, epochs: int):
    """D-AnoGAN (fully connected networks) on :class:`~danogan_sk.preprocessing.PolarSpectrum` rows."""
    from ..preprocessing import PolarSpectrum
    from .dagan import ROW_DEFAULT, DAnoGANModel

    return Preprocessed(PolarSpectrum(), DAnoGANModel(seed, epochs, label=POLAR_DAGAN, rows=(ROW_DEFAULT,)))


#: The rings of :class:`~danogan_sk.preprocessing.PolarSpectrum` in a polar method's run key:
#: runs made before the rings followed the part (image-centred rings) are other runs.
POLAR_PARAMS = {"rings": "on the part"}


def on_polar_spectrum(method: Method, name: str | None = None, description: str | None = None) -> Method:
    """``method`` fitted and scored on :class:`~danogan_sk.preprocessing.PolarSpectrum` rows.

    The same model, budget and run-key packages as ``method``, behind the
    rotation-invariant front end that the polar D-AnoGAN uses, so that a
    baseline is compared with it on the same rows. ``name`` and
    ``description`` default to the method's, marked as on polar spectrum.

    Examples
    --------
    >>> on_polar_spectrum(METHODS["KNN"]).name
    'KNN on polar spectrum'
    """

    def make(seed: int, epochs: int) -> Preprocessed:
        from ..preprocessing import PolarSpectrum

        return Preprocessed(PolarSpectrum(), method.make(seed, epochs))

    return Method(name or f"{method.name} on polar spectrum", make, method.iterative,
                  description or f"{method.description}; on PolarSpectrum rows instead of pixels",
                  params={**method.params, **POLAR_PARAMS}, packages=method.packages,
                  calibration_rows=method.calibration_rows, timing_epochs=method.timing_epochs)


#: The benchmark name of the thesis's configuration.
THESIS_METHOD = "D-AnoGAN THESIS_PARAMS"


def _thesis_configuration(seed: int, epochs: int):
    """``DAnoGANDetector(**THESIS_PARAMS)`` with the budget's epochs instead of 500 + 500."""
    from ..estimator import THESIS_PARAMS
    from .dagan import ROW_FIXED, DAnoGANModel

    params = {k: v for k, v in THESIS_PARAMS.items() if k not in ("n_epochs", "xzx_epochs")}
    # Its own score is eq. 5.1 at alpha = 0.9: one row.
    return DAnoGANModel(seed, epochs, label=THESIS_METHOD, rows=(ROW_FIXED,), **params)


def _ablation(part: str, **params) -> Method:
    """D-AnoGAN without ``part``: ``params`` are the detector settings that remove it."""
    name = f"D-AnoGAN without {part}"
    return Method(name, _dagan(name, **params), True, f"ablation: {_ABLATIONS[part]}",
                  params=params, timing_epochs=DANOGAN_TIMING_EPOCHS)


_ABLATIONS = {
    "bandit": "uniform prior over the generators",
    "xzx": "no phase 2, encoders trained on generated samples only",
}


def _fanogan(seed: int, epochs: int):
    from .baselines import FAnoGAN

    return FAnoGAN(seed=seed, epochs=epochs)


def _ganomaly(seed: int, epochs: int):
    from .baselines import GANomaly

    return GANomaly(seed=seed, epochs=epochs)


def _ocgan(seed: int, epochs: int):
    from .ocgan import OCGAN

    return OCGAN(seed=seed, epochs=epochs)


def _conv_vae(seed: int, epochs: int):
    from .conv_vae import ConvVAEModel

    return ConvVAEModel(seed=seed, epochs=epochs)


_RAW_PIXEL_NN = Method("raw-pixel 1-NN", lambda seed, epochs: RawPixelNN(), False,
                       "distance to the nearest training image (no learning)")


def _registry(methods: list[Method]) -> dict[str, Method]:
    return {method.name: method for method in methods}


#: Every method ``danogan bench`` knows, by name.
METHODS: dict[str, Method] = _registry(
    [
        Method("D-AnoGAN", _dagan(), True,
               "this package's model; eq. 5.1 at fixed, validation and oracle alpha; default score",
               timing_epochs=DANOGAN_TIMING_EPOCHS),
        Method(THESIS_METHOD, _thesis_configuration, True,
               "DAnoGANDetector(**THESIS_PARAMS): 15 generators, batch 128, entropy decay 0.999, "
               "eq. 5.1 at alpha=0.9; the budget sets the epochs", timing_epochs=DANOGAN_TIMING_EPOCHS),
        # Ablations (thesis table 5.6): not run unless named in --methods.
        _ablation("bandit", bandit=False),
        _ablation("xzx", xzx_epochs=0),
        _RAW_PIXEL_NN,
        # Rotation-invariant front end, for round parts at any angle: not run unless named.
        Method(POLAR_DAGAN, _polar_dagan, True,
               "D-AnoGAN's default score on PolarSpectrum rows (rotation- and gain-invariant)",
               params=POLAR_PARAMS, timing_epochs=DANOGAN_TIMING_EPOCHS),
        on_polar_spectrum(_RAW_PIXEL_NN, POLAR_NN,
                          "distance to the nearest training image's PolarSpectrum row (no learning)"),
        _pyod("KNN", "PyOD KNN (k=5, largest distance), standardised pixels", False, _knn),
        _pyod("IForest", "PyOD IForest (100 trees), standardised pixels", False, _iforest),
        _pyod("AutoEncoder", "PyOD AutoEncoder (dense 64-32), standardised pixels", True,
              _autoencoder),
        _pyod("VAE", "PyOD VAE (dense 128-64-32, 2-d latent), standardised pixels", True, _vae),
        _pyod("DeepSVDD", "PyOD DeepSVDD, standardised pixels", True, _deep_svdd),
        _pyod("ALAD", "PyOD ALAD (the BiGAN family), standardised pixels; an epoch is a pass over the "
              "training data (PyOD's epochs are minibatch steps)", True, _alad, params={"epoch": "pass"},
              # Each of its minibatch steps shuffles the whole training set, so
              # a pass costs quadratically in the rows: time it on all of them.
              calibration_rows=None),
        Method("f-AnoGAN", _fanogan, True,
               "WGAN-GP + izi_f encoder from this package's blocks; image + feature MSE"),
        Method("GANomaly", _ganomaly, True,
               "encoder-decoder-encoder from this package's blocks; latent distance"),
        Method("OCGAN", _ocgan, True,
               "denoising auto-encoder with tanh latent, latent and visual discriminators, "
               "classifier and negative mining; reconstruction error"),
        Method("conv VAE", _conv_vae, True,
               "convolutional VAE trained with skorch; negative ELBO at the posterior mean",
               packages=("danogan_sk", "skorch")),
    ]
)
# PyOD's detectors behind the same front end, beside the polar D-AnoGAN and 1-NN: not run unless named.
METHODS.update(_registry([on_polar_spectrum(METHODS[name])
                          for name in ("KNN", "IForest", "AutoEncoder", "VAE", "DeepSVDD")]))
