"""``DAnoGAN``: the D-AnoGAN model behind PyOD's detector contract.

PyOD and scikit-learn disagree on the sign of ``decision_function`` and on
the labels ``predict`` returns, so one class cannot serve both. This adapter
fits a :class:`~danogan_sk.DAnoGANDetector` (``detector_``) and exposes its
anomaly score ``A(x) = -score_samples(x)`` with PyOD's conventions: higher is
more abnormal, labels in {0, 1}, ``decision_scores_``, ``threshold_``,
``labels_``, ``predict_proba`` and ``predict_confidence``.

PyOD is imported here only, so ``import danogan_sk`` works without it.
"""

from __future__ import annotations

import numpy as np
from pyod.models.base import BaseDetector
from sklearn.utils.validation import check_is_fitted

from .config import keyword_signature, parameter_defaults
from .estimator import DAnoGANDetector

__all__ = ["DAnoGAN"]


class DAnoGAN(BaseDetector):
    """D-AnoGAN with PyOD's conventions: higher ``decision_function`` = more abnormal.

    Every parameter except ``contamination`` is passed on unchanged to the
    :class:`~danogan_sk.DAnoGANDetector` it fits; see that class for their
    meaning. ``contamination`` sets ``threshold_`` the PyOD way: the
    ``1 - contamination`` percentile of the training scores. As in PyOD,
    parameters take effect at ``fit``: ``threshold_`` and the scores always
    use the same ``alpha`` (to score at another alpha without refitting, set
    it on ``detector_``).

    Parameters
    ----------
    contamination : float in (0, 0.5], default=0.1
        Expected proportion of outliers in the training data.
    **params
        Every other parameter of :class:`~danogan_sk.DAnoGANDetector`, with
        the same name, meaning and default, as keywords
        (``DAnoGAN(n_epochs=5, alpha=0.9)``).

    Attributes
    ----------
    detector_ : DAnoGANDetector
        The fitted model (scikit-learn conventions); share it with code that
        expects them.
    decision_scores_ : ndarray of shape (n_samples,)
        Anomaly scores ``A(x)`` of the training data; higher is more abnormal.
    threshold_ : float
        Scores above it are labelled outliers.
    labels_ : ndarray of shape (n_samples,)
        0 inlier, 1 outlier, for the training data.

    Examples
    --------
    >>> import numpy as np
    >>> from danogan_sk.pyod import DAnoGAN
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> clf = DAnoGAN(n_generators=2, n_epochs=1, xzx_epochs=0, random_state=0).fit(X)
    >>> clf.decision_function(X[:3]).shape, set(clf.labels_) <= {0, 1}
    ((3,), True)
    """

    def __init__(self, **params) -> None:
        # The parameters are the detector's (see __signature__ below), so a
        # parameter added to the configuration appears here with its default.
        unknown = sorted(set(params) - set(_DEFAULTS))
        if unknown:
            raise TypeError(f"DAnoGAN got unexpected keyword arguments {unknown}.")
        super().__init__(contamination=params.pop("contamination", _DEFAULTS["contamination"]))
        for name, default in _DEFAULTS.items():
            if name != "contamination":
                setattr(self, name, params.get(name, default))

    def _detector_params(self) -> dict:
        """This adapter's parameters that ``DAnoGANDetector`` accepts."""
        names = DAnoGANDetector._get_param_names()
        params = self.get_params(deep=False)
        # PyOD's contamination may be a PyThresh object; the detector's
        # offset_ is unused here, so it keeps its own default then.
        if not isinstance(self.contamination, (float, int)):
            params.pop("contamination")
        return {name: params[name] for name in names if name in params}

    def fit(self, X, y=None) -> "DAnoGAN":
        """Fit the model on (normal) data and score it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Training data.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : DAnoGAN
            The fitted detector.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> clf = DAnoGAN(contamination=0.2, n_generators=2, n_epochs=1, xzx_epochs=0,
        ...               random_state=0).fit(X)
        >>> float(clf.labels_.mean())
        0.2
        """
        self._set_n_classes(y)
        self.detector_ = DAnoGANDetector(**self._detector_params()).fit(X)
        # fit already scored the training data (for offset_); reuse those terms.
        self.decision_scores_ = self.detector_._training_anomaly_scores()
        self._process_decision_scores()
        return self

    def decision_function(self, X) -> np.ndarray:
        """Anomaly score ``A(x)`` at the current score settings; higher is more abnormal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Query samples.

        Returns
        -------
        anomaly_scores : ndarray of shape (n_samples,)

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> clf = DAnoGAN(n_generators=2, n_epochs=1, xzx_epochs=0, random_state=0).fit(X)
        >>> bool(np.allclose(clf.decision_function(X), clf.decision_scores_))
        True
        """
        check_is_fitted(self, ["detector_"])
        return -self.detector_.score_samples(X)


# The detector's parameters, contamination first as in PyOD: config.py is their one definition.
_SIGNATURE = keyword_signature(first="contamination")
_DEFAULTS = parameter_defaults()
# scikit-learn's and PyOD's get_params read the parameter names from the signature.
DAnoGAN.__init__.__signature__ = _SIGNATURE
