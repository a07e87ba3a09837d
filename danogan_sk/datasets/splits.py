"""Train/test splits of the anomaly-detection evaluation protocol.

Some classes of a labelled data set are declared *normal*, the others
*anomalous*. A fraction of the normal samples (80 % by default) is the
training set, which therefore holds normal samples only; the rest of the
normal samples together with every anomalous sample is the test set.

* :func:`leave_one_class_out` -- MNIST / Fashion-MNIST (one class anomalous,
  the nine others normal), as in GANomaly's and EGBAD's evaluation code.
* :func:`normal_anomaly_split` -- the general form, e.g. for the Wheel data
  (eight normal manifolds, several anomalous ones, one model tested against
  each anomalous manifold through :meth:`AnomalySplit.test_mask`).
* :func:`normal_validation_split` -- a normal-only validation set carved out
  of the training set, for model selection without test labels.
* :func:`load_protocol_pool` -- the image pool the protocol draws from.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, List, NamedTuple, Optional, Tuple, Union

import numpy as np
from sklearn.utils import check_random_state

from .mnist import PathLike, load_dataset

__all__ = [
    "AnomalySplit",
    "ValidationSplit",
    "leave_one_class_out",
    "load_protocol_pool",
    "normal_anomaly_split",
    "normal_validation_split",
]

RandomState = Union[None, int, np.random.RandomState]
Classes = Union[Hashable, Iterable[Hashable]]

_POOLS = {"both": "all", "train": "train", "test": "test"}

# Guards floor(n * fraction) against products such as 0.29 * 100 = 28.999...
_FLOOR_RTOL = 1e-12


@dataclass(frozen=True, eq=False, repr=False)
class AnomalySplit:
    """Result of :func:`normal_anomaly_split` and :func:`leave_one_class_out`.

    Attributes
    ----------
    X_train : ndarray of shape (n_train, ...)
        Normal samples only, in random order.
    X_test : ndarray of shape (n_test, ...)
        The held-out normal samples and every anomalous sample, in the order
        of the input arrays.
    y_test : ndarray of shape (n_test,), dtype int64
        1 = anomaly, 0 = normal: PyOD's convention, and the one
        :func:`sklearn.metrics.roc_auc_score` expects with anomaly scores
        (higher = more anomalous).
    y_test_sklearn : ndarray of shape (n_test,), dtype int64
        +1 = inlier (normal), -1 = outlier (anomaly): scikit-learn's outlier
        detection convention (``predict`` of ``IsolationForest`` etc.).
    classes_train, classes_test : ndarray
        The original class labels of the training and test samples.
    idx_train, idx_test : ndarray of int64
        Positions of the samples in the input arrays: ``X_train ==
        X[idx_train]``, ``X_test == X[idx_test]``. The two never overlap.
    normal_classes, anomaly_classes : tuple
        The classes used as normal and as anomalous.
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    y_test_sklearn: np.ndarray
    classes_train: np.ndarray
    classes_test: np.ndarray
    idx_train: np.ndarray
    idx_test: np.ndarray
    normal_classes: Tuple[Any, ...]
    anomaly_classes: Tuple[Any, ...]

    def test_mask(self, anomaly_class: Hashable) -> np.ndarray:
        """Boolean mask over the test set: the normal samples plus one anomalous class.

        Scores computed once on ``X_test`` can then be evaluated against each
        anomalous class separately, as the Wheel protocol does.

        Parameters
        ----------
        anomaly_class : hashable
            One of ``anomaly_classes``.

        Returns
        -------
        ndarray of bool, shape (n_test,)

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk.datasets.splits import normal_anomaly_split
        >>> y = np.repeat([0, 1, 2, 3], 10)
        >>> split = normal_anomaly_split(y[:, None], y, [0, 1], [2, 3], random_state=0)
        >>> mask = split.test_mask(2)
        >>> sorted(set(split.classes_test[mask].tolist()))
        [0, 1, 2]
        """
        if anomaly_class not in self.anomaly_classes:
            raise ValueError(
                f"{anomaly_class!r} is not an anomaly class of this split "
                f"(anomaly classes: {list(self.anomaly_classes)})"
            )
        return (self.y_test == 0) | (self.classes_test == anomaly_class)

    def __repr__(self) -> str:
        return (
            f"AnomalySplit(n_train={len(self.idx_train)}, n_test={len(self.idx_test)}, "
            f"n_test_anomalies={int(self.y_test.sum())}, "
            f"normal_classes={list(self.normal_classes)}, "
            f"anomaly_classes={list(self.anomaly_classes)})"
        )


class ValidationSplit(NamedTuple):
    """Result of :func:`normal_validation_split`.

    ``X_fit == X_train[idx_fit]`` is what the model is fitted on,
    ``X_val == X_train[idx_val]`` the held-out normal samples.
    """

    X_fit: np.ndarray
    X_val: np.ndarray
    idx_fit: np.ndarray
    idx_val: np.ndarray


# ---------------------------------------------------------------- validation


def _check_fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_xy(X, y) -> Tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0:
        raise ValueError("X must be an array of samples, got a scalar")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"X and y have different lengths: {len(X)} and {len(y)}")
    return X, y


def _check_classes(classes: Classes, y: np.ndarray, name: str) -> Tuple[Any, ...]:
    """Distinct classes in the given order; each must occur in ``y``."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        classes = [classes]
    # tolist() turns numpy scalars into plain Python values for messages.
    found = tuple(dict.fromkeys(np.asarray(list(classes)).tolist()))
    if not found:
        raise ValueError(f"{name} is empty")
    present = np.unique(y).tolist()
    for c in found:
        if not np.any(y == c):
            raise ValueError(f"{name}: class {c!r} has no samples in y (classes in y: {present})")
    return found


# ------------------------------------------------------------------ splitting


def _n_first(n: int, fraction: float) -> int:
    return math.floor(n * fraction * (1 + _FLOOR_RTOL))


def _partition(
    groups: List[np.ndarray], fraction: float, rng: np.random.RandomState
) -> Tuple[np.ndarray, np.ndarray]:
    """Shuffle each group; the first ``floor(fraction * size)`` go to part one.

    Part one is shuffled across groups (classes end up mixed, ready to train
    on); part two is returned sorted (input order).
    """
    first, second = [], []
    for group in groups:
        shuffled = rng.permutation(group)
        k = _n_first(len(group), fraction)
        first.append(shuffled[:k])
        second.append(shuffled[k:])
    part_one = rng.permutation(np.concatenate(first)).astype(np.int64)
    part_two = np.sort(np.concatenate(second)).astype(np.int64)
    return part_one, part_two


def normal_anomaly_split(
    X,
    y,
    normal_classes: Classes,
    anomaly_classes: Optional[Classes] = None,
    train_fraction: float = 0.8,
    random_state: RandomState = None,
    *,
    stratify: bool = True,
) -> AnomalySplit:
    """Split labelled data into a normal-only training set and a mixed test set.

    ``train_fraction`` of the samples of ``normal_classes`` form the training
    set; the remaining normal samples and *every* sample of
    ``anomaly_classes`` form the test set. Samples of any other class are left
    out. The input arrays are never modified; the outputs are new arrays.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples, of any trailing shape (vectors or images).
    y : array-like of shape (n_samples,)
        Class of each sample.
    normal_classes : class or iterable of classes
        Classes treated as normal. Each must occur in ``y``.
    anomaly_classes : class or iterable of classes, default=None
        Classes treated as anomalous; ``None`` means every class in ``y``
        that is not normal. Must not overlap ``normal_classes``.
    train_fraction : float, default=0.8
        Fraction of the normal samples used for training, strictly between 0
        and 1. The training set gets ``floor(train_fraction * n)`` of them.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle, through :func:`sklearn.utils.check_random_state`;
        an int gives the same split every time. Global RNGs are not touched.
    stratify : bool, default=True
        If True, the fraction is applied to each normal class separately
        (``floor(train_fraction * n_c)`` of class ``c`` for training), so the
        training set keeps the class proportions of the pool. If False, the
        whole normal pool is shuffled once and cut at
        ``floor(train_fraction * n_normal)``, as GANomaly's and EGBAD's code do.

    Returns
    -------
    AnomalySplit
        ``X_train``, ``X_test``, ``y_test`` (1 = anomaly, 0 = normal),
        ``y_test_sklearn`` (+1 inlier, -1 outlier), ``classes_train``,
        ``classes_test``, ``idx_train``, ``idx_test``; see
        :class:`AnomalySplit`.

    Raises
    ------
    ValueError
        Mismatched lengths, a class absent from ``y``, overlapping or empty
        class lists, ``train_fraction`` outside (0, 1), or a fraction that
        leaves the training set or the normal test samples empty.

    Examples
    --------
    Eight normal manifolds and two anomalous ones, one model tested against
    each anomalous manifold:

    >>> import numpy as np
    >>> from danogan_sk.datasets.splits import normal_anomaly_split
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(np.arange(10), 50)
    >>> X = rng.normal(size=(500, 2)) + y[:, None]
    >>> split = normal_anomaly_split(X, y, range(8), [8, 9], random_state=0)
    >>> split.X_train.shape, split.X_test.shape
    ((320, 2), (180, 2))
    >>> int(split.y_test.sum()), int((split.y_test_sklearn == -1).sum())
    (100, 100)
    >>> int(split.test_mask(8).sum())
    130
    """
    X, y = _check_xy(X, y)
    normal = _check_classes(normal_classes, y, "normal_classes")
    if anomaly_classes is None:
        anomaly = tuple(c for c in np.unique(y).tolist() if c not in normal)
        if not anomaly:
            raise ValueError("every class in y is normal: no anomaly class left for the test set")
    else:
        anomaly = _check_classes(anomaly_classes, y, "anomaly_classes")
    both = set(normal) & set(anomaly)
    if both:
        raise ValueError(f"classes {sorted(both)} are both normal and anomalous")
    train_fraction = _check_fraction(train_fraction, "train_fraction")
    rng = check_random_state(random_state)

    if stratify:
        groups = [np.flatnonzero(y == c) for c in sorted(normal)]
    else:
        groups = [np.flatnonzero(np.isin(y, normal))]
    idx_train, idx_test_normal = _partition(groups, train_fraction, rng)
    if len(idx_train) == 0:
        raise ValueError(f"train_fraction={train_fraction} leaves the training set empty")
    if len(idx_test_normal) == 0:
        raise ValueError(f"train_fraction={train_fraction} leaves no normal sample for testing")

    idx_anomaly = np.flatnonzero(np.isin(y, anomaly))
    idx_test = np.sort(np.concatenate([idx_test_normal, idx_anomaly])).astype(np.int64)
    y_test = np.isin(y[idx_test], anomaly).astype(np.int64)
    return AnomalySplit(
        X_train=X[idx_train],
        X_test=X[idx_test],
        y_test=y_test,
        y_test_sklearn=1 - 2 * y_test,
        classes_train=y[idx_train],
        classes_test=y[idx_test],
        idx_train=idx_train,
        idx_test=idx_test,
        normal_classes=normal,
        anomaly_classes=anomaly,
    )


def leave_one_class_out(
    X,
    y,
    anomaly_class: Hashable,
    train_fraction: float = 0.8,
    random_state: RandomState = None,
    *,
    stratify: bool = True,
) -> AnomalySplit:
    """The MNIST / Fashion-MNIST protocol: one class is the anomaly.

    Every class of ``y`` except ``anomaly_class`` is normal;
    ``train_fraction`` of the normal samples train the model, and the test set
    is the other normal samples plus all samples of ``anomaly_class``. This is
    :func:`normal_anomaly_split` with ``normal_classes`` = all other classes.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples, e.g. images of shape (n, 28, 28).
    y : array-like of shape (n_samples,)
        Class of each sample.
    anomaly_class : hashable
        The held-out class; it must occur in ``y``, and ``y`` must hold at
        least one other class.
    train_fraction : float, default=0.8
        Fraction of the normal pool used for training, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle.
    stratify : bool, default=True
        Per-class fractions (True) or one shuffle of the whole normal pool as
        in GANomaly's and EGBAD's code (False); see
        :func:`normal_anomaly_split`.

    Returns
    -------
    AnomalySplit
        See :class:`AnomalySplit`; ``y_test`` is 1 for ``anomaly_class``.

    Examples
    --------
    >>> import numpy as np
    >>> from danogan_sk.datasets.splits import leave_one_class_out
    >>> y = np.repeat(np.arange(10), 100)
    >>> X = np.zeros((1000, 28, 28), dtype=np.uint8)
    >>> split = leave_one_class_out(X, y, anomaly_class=3, random_state=0)
    >>> split.X_train.shape, split.X_test.shape, int(split.y_test.sum())
    ((720, 28, 28), (280, 28, 28), 100)
    >>> 3 in split.classes_train
    False

    With the real data (``pool="both"``: MNIST's train and test files
    together, as in the reference implementations):

    >>> from danogan_sk.datasets.splits import load_protocol_pool
    >>> X, y = load_protocol_pool("mnist")  # doctest: +SKIP
    >>> split = leave_one_class_out(X, y, anomaly_class=0, random_state=0)  # doctest: +SKIP
    """
    _, y_arr = _check_xy(X, y)
    (anomaly,) = _check_classes([anomaly_class], y_arr, "anomaly_class")
    normal = [c for c in np.unique(y_arr).tolist() if c != anomaly]
    if not normal:
        raise ValueError(f"y holds only the anomaly class {anomaly!r}: no normal class")
    return normal_anomaly_split(
        X, y, normal, [anomaly], train_fraction, random_state, stratify=stratify
    )


def normal_validation_split(
    X_train,
    validation_fraction: float = 0.1,
    random_state: RandomState = None,
    *,
    classes=None,
) -> ValidationSplit:
    """Hold out part of a (normal-only) training set for validation.

    The validation samples are normal, so they serve to choose
    hyper-parameters such as the score weight, or to stop training, without
    looking at test labels.

    Parameters
    ----------
    X_train : array-like of shape (n_samples, ...)
        The training samples, e.g. ``AnomalySplit.X_train``. Not modified.
    validation_fraction : float, default=0.1
        Fraction held out, strictly between 0 and 1. The fit part gets
        ``floor((1 - validation_fraction) * n)`` samples (per class if
        ``classes`` is given), the validation part the rest.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle.
    classes : array-like of shape (n_samples,), default=None
        Class of each sample (e.g. ``AnomalySplit.classes_train``); if given,
        the split is stratified by class.

    Returns
    -------
    ValidationSplit
        ``(X_fit, X_val, idx_fit, idx_val)``, indices into ``X_train``;
        ``X_fit`` is in random order, ``X_val`` in input order.

    Raises
    ------
    ValueError
        ``validation_fraction`` outside (0, 1), ``classes`` of another length,
        or a part that would be empty.

    Examples
    --------
    >>> import numpy as np
    >>> from danogan_sk.datasets.splits import normal_validation_split
    >>> X = np.arange(50).reshape(25, 2)
    >>> X_fit, X_val, idx_fit, idx_val = normal_validation_split(X, 0.2, random_state=0)
    >>> len(X_fit), len(X_val)
    (20, 5)
    """
    validation_fraction = _check_fraction(validation_fraction, "validation_fraction")
    X = np.asarray(X_train)
    if X.ndim == 0:
        raise ValueError("X_train must be an array of samples, got a scalar")
    if classes is None:
        groups = [np.arange(len(X))]
    else:
        _, classes = _check_xy(X, classes)
        groups = [np.flatnonzero(classes == c) for c in np.unique(classes)]
    rng = check_random_state(random_state)
    idx_fit, idx_val = _partition(groups, 1.0 - validation_fraction, rng)
    if len(idx_fit) == 0 or len(idx_val) == 0:
        raise ValueError(
            f"validation_fraction={validation_fraction} of {len(X)} samples leaves "
            f"{len(idx_fit)} to fit and {len(idx_val)} to validate; both must be > 0"
        )
    return ValidationSplit(X[idx_fit], X[idx_val], idx_fit, idx_val)


def load_protocol_pool(
    dataset: str = "mnist",
    pool: str = "both",
    data_home: Optional[PathLike] = None,
    download: bool = True,
    **load_kwargs,
) -> Tuple[np.ndarray, np.ndarray]:
    """Load the images the leave-one-class-out protocol draws from.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist"}, default="mnist"
    pool : {"both", "train", "test"}, default="both"
        ``"both"``: the official train and test files together (70,000
        images), as GANomaly's and EGBAD's code use them: the official split
        plays no role in the protocol, which re-splits the pool itself.
        ``"train"`` or ``"test"``: only that file pair.
    data_home, download
        As in :func:`danogan_sk.datasets.mnist.load_mnist`.
    **load_kwargs
        Passed on to the loader (``mirrors=``, ``verify=``).

    Returns
    -------
    X : ndarray of shape (n, 28, 28), dtype uint8
    y : ndarray of shape (n,), dtype int64

    Examples
    --------
    >>> from danogan_sk.datasets.splits import load_protocol_pool, leave_one_class_out
    >>> X, y = load_protocol_pool("fashion-mnist", pool="both")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (70000, 28, 28)
    >>> split = leave_one_class_out(X, y, anomaly_class=5, random_state=0)  # doctest: +SKIP
    """
    if pool not in _POOLS:
        raise ValueError(f"unknown pool {pool!r}; choose one of {tuple(_POOLS)}")
    return load_dataset(dataset, _POOLS[pool], data_home, download, **load_kwargs)
