"""The benchmark's data: pools, the thesis protocol's tasks, and the budget.

* MNIST and Fashion-MNIST (thesis section 5.1): leave one class out. One
  :class:`Task` per held-out class; 80 % of the other classes train, the
  rest plus all of the held-out class test.
* Wheel and Wheel inspection: the eight normal manifolds split 80/20; one
  model per seed is tested against each anomalous manifold (one
  :class:`Task` with one evaluated class per anomaly, through
  :meth:`AnomalySplit.test_mask`).

Images are handed to methods as float32 ``(n, C, H, W)`` in [0, 1].
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..datasets import (
    MANIFOLDS,
    base_design,
    leave_one_class_out,
    load_protocol_pool,
    normal_anomaly_split,
)
from ..datasets.wheel_benchmarks import WHEEL_BENCHMARKS

__all__ = ["Budget", "CLOCKS", "Pool", "Task", "DATASETS", "load_pool", "PoolLoader", "make_tasks", "task_classes", "make_task",
           "as_images", "own_design_masks"]

DATASETS = ("mnist", "fashion-mnist", *WHEEL_BENCHMARKS)
#: How a time budget becomes epochs (part of its key): one more epoch's cost
#: apart from the once-per-fit cost, timed on fits of 1 and 3 epochs.
EPOCH_TIMING = "marginal epoch, fixed cost apart"
#: What a time budget's seconds count: elapsed time, or the CPU time of the
#: process running the fit (all its threads), which other work on the machine
#: does not use up.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class Budget:
    """What bounds the cost of one run; part of every run's key.

    Parameters
    ----------
    epochs : int, default=5
        Training epochs of every iterative method (an upper bound when
        ``seconds`` is set).
    seconds : float or None, default=None
        Target training time of an iterative method. Its epochs are then
        ``min(epochs, (seconds - f) / t)``, with ``t`` the cost of one more
        epoch and ``f`` the once-per-fit cost, both timed on fits of 1 and
        3 epochs on a subsample of the training data and scaled to its full
        size (so the chosen epoch count depends on the machine; it is
        recorded with each run).
    max_train : int or None, default=None
        Cap on the training rows (the first rows of the shuffled training
        set); the test set is never cut.
    clock : {"wall", "cpu"}, default="wall"
        What ``seconds`` count, in the epoch timing and in each run's
        ``fit_seconds``: elapsed time, or the CPU time of the process that
        fits (:func:`time.process_time`, summed over its threads). A CPU-time
        budget buys the same work whatever else runs on the machine, and
        with several torch threads it counts every thread's time. It is
        meant for CPU runs in their own process (``n_jobs=1`` or loky
        workers): it does not count time spent on a GPU, and runs that
        share a process through a threading backend count each other's
        time.

    Examples
    --------
    >>> Budget(epochs=2, max_train=1000).key
    '{"epochs": 2, "max_train": 1000, "seconds": null}'
    >>> Budget(epochs=2, max_train=1000).key_for(iterative=False)
    '{"max_train": 1000}'
    >>> Budget(epochs=2, seconds=60.0, clock="cpu").key
    '{"clock": "cpu", "epoch_timing": "marginal epoch, fixed cost apart", "epochs": 2, "max_train": null, "seconds": 60.0}'
    """

    epochs: int = 5
    seconds: float | None = None
    max_train: int | None = None
    clock: str = "wall"

    def __post_init__(self) -> None:
        if not self.epochs >= 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if self.max_train is not None and not self.max_train >= 1:
            raise ValueError(f"max_train must be at least 1, got {self.max_train}")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {self.clock!r}")

    @property
    def timer(self) -> Callable[[], float]:
        """The function that reads :attr:`clock` (seconds from an arbitrary origin)."""
        return CLOCKS[self.clock]

    @property
    def key(self) -> str:
        """A canonical string of the budget, for run keys.

        A time budget also names how its epochs are counted, so that runs
        whose epochs came from an earlier rule are not taken for new ones,
        and its clock unless it is the wall clock (the keys of wall-clock
        runs recorded before there was a choice stay valid).
        """
        fields = asdict(self)
        del fields["clock"]
        if self.seconds is not None:
            fields["epoch_timing"] = EPOCH_TIMING
            if self.clock != "wall":
                fields["clock"] = self.clock
        return json.dumps(fields, sort_keys=True)

    def key_for(self, iterative: bool) -> str:
        """:attr:`key` of what bounds a method: a method that does not train has no epochs or time."""
        return self.key if iterative else json.dumps({"max_train": self.max_train})


@dataclass
class Pool:
    """A labelled image pool and how the protocol splits it.

    Attributes
    ----------
    dataset : str
        Name in tables and run keys.
    X : ndarray of shape (n, H, W) or (n, C, H, W)
        Images (uint8 in [0, 255] or float in [0, 1]).
    y : ndarray of shape (n,)
        Class indices.
    class_names : sequence of str
        Name of each class index, for table columns.
    anomaly_classes : sequence of int or None
        ``None``: leave one class out, one task per class. Otherwise these
        classes are anomalous, all others normal, and one model is tested
        against each of them.
    settings : dict
        Whatever chose these images beyond the data set's name and the seed
        (Wheel: image size and images per manifold); part of every run's key.
    """

    dataset: str
    X: np.ndarray
    y: np.ndarray
    class_names: Sequence[str]
    anomaly_classes: Sequence[int] | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class Task:
    """One fit of one method: training images and what its scores are tested on."""

    dataset: str
    classes: tuple[str, ...]
    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    masks: dict[str, np.ndarray]
    #: The pool's class index of each test row (a Wheel preset: its design), for analyses
    #: beyond the protocol's one AUC per tested class.
    classes_test: np.ndarray | None = None
    #: A Wheel anomaly's test rows and the normal test rows of its base design only
    #: (:func:`~danogan_sk.datasets.base_design`), by anomaly; empty for other data.
    own_design_masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "+".join(self.classes)


def as_images(X: np.ndarray) -> np.ndarray:
    """Any image array -> float32 ``(n, C, H, W)`` in [0, 1]."""
    X = np.asarray(X)
    scale = 255.0 if X.dtype == np.uint8 else 1.0
    images = X.astype(np.float32) / np.float32(scale)
    return images[:, None] if images.ndim == 3 else images


def load_pool(dataset: str, seed: int, data_home=None, wheel_size: int | None = None,
              wheel_per_manifold: int = 250) -> Pool:
    """The image pool of a data set (Wheel images are generated from ``seed``).

    ``wheel_size`` ``None`` is the Wheel benchmark's own default: 32 px for
    ``"wheel"``, 64 px for ``"wheel-inspection"``.
    """
    if dataset in WHEEL_BENCHMARKS:
        bench = WHEEL_BENCHMARKS[dataset]
        X, y = bench.make(wheel_per_manifold, seed, wheel_size)
        size = bench.image_size if wheel_size is None else wheel_size
        settings = {"wheel_size": size, "wheel_per_manifold": wheel_per_manifold}
        return Pool(dataset, X, y, bench.class_names, bench.anomaly_labels, settings)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    X, y = load_protocol_pool(dataset, pool="both", data_home=data_home, download=False)
    return Pool(dataset, X, y, [str(c) for c in range(int(y.max()) + 1)])


@dataclass(frozen=True)
class PoolLoader:
    """:func:`load_pool` with its settings bound: ``loader(seed) -> Pool``.

    Small and picklable, so a worker process or a cluster node can load the
    images itself (from ``data_home`` as seen from that machine) instead of
    receiving them with every run.

    Examples
    --------
    >>> PoolLoader("wheel", wheel_per_manifold=5)(0).X.shape
    (50, 32, 32)
    """

    dataset: str
    data_home: str | None = None
    wheel_size: int = 32
    wheel_per_manifold: int = 250

    def __call__(self, seed: int) -> Pool:
        return load_pool(self.dataset, seed, self.data_home, self.wheel_size, self.wheel_per_manifold)


def make_tasks(pool: Pool, classes: Sequence[int] | None, seed: int,
               max_train: int | None = None) -> Iterator[Task]:
    """The protocol's tasks for ``seed``: one per held-out class, or one for Wheel.

    Parameters
    ----------
    pool : Pool
    classes : sequence of int or None
        Classes to hold out (leave-one-class-out) or anomalous classes to
        test against (Wheel); ``None`` for all.
    seed : int
        Seed of the split (the same for every method).
    max_train : int or None
        Cap on training rows.
    """
    for tested in task_classes(pool, classes):
        yield make_task(pool, tested, seed, max_train)


def task_classes(pool: Pool, classes: Sequence[int] | None) -> list[tuple[int, ...]]:
    """The tested class indices of each of the protocol's tasks, without splitting any data.

    Leave-one-class-out: one task per held-out class. Wheel: one task tested
    against every chosen anomalous manifold.

    Examples
    --------
    >>> pool = Pool("toy", np.zeros((3, 2, 2)), np.arange(3), ["a", "b", "c"])
    >>> task_classes(pool, [0, 2])
    [(0,), (2,)]
    """
    if pool.anomaly_classes is None:
        held_out = range(len(pool.class_names)) if classes is None else classes
        return [(int(c),) for c in held_out]
    anomalous = list(pool.anomaly_classes)
    return [tuple(c for c in anomalous if classes is None or c in classes)]


def make_task(pool: Pool, tested: Sequence[int], seed: int, max_train: int | None = None) -> Task:
    """The task that tests ``tested`` (an entry of :func:`task_classes`), split with ``seed``."""
    if pool.anomaly_classes is None:
        (held_out,) = tested
        split = leave_one_class_out(pool.X, pool.y, held_out, random_state=seed)
    else:
        anomalous = list(pool.anomaly_classes)
        normal = [c for c in range(len(pool.class_names)) if c not in anomalous]
        split = normal_anomaly_split(pool.X, pool.y, normal, anomalous, random_state=seed)
    return _task(pool, split, list(tested), max_train)


def _task(pool: Pool, split, tested: list[int], max_train: int | None) -> Task:
    train = split.X_train if max_train is None else split.X_train[:max_train]
    return Task(
        dataset=pool.dataset,
        classes=tuple(pool.class_names[c] for c in tested),
        X_train=as_images(train),
        X_test=as_images(split.X_test),
        y_test=split.y_test,
        masks={pool.class_names[c]: split.test_mask(c) for c in tested},
        classes_test=split.classes_test,
        own_design_masks=own_design_masks(pool, split.classes_test, tested),
    )


def own_design_masks(pool: Pool, classes_test: np.ndarray, tested: Sequence[int]) -> dict[str, np.ndarray]:
    """Each tested Wheel anomaly's test rows and its base design's normal test rows.

    Testing an anomaly against the normal images of the design it was made
    from alone asks whether a score sees the fault rather than how it ranks
    the designs. Empty when the tested classes are not built-in Wheel
    manifolds whose base design is in the pool (MNIST, Fashion-MNIST).

    Examples
    --------
    >>> pool = load_pool("wheel", 0, wheel_per_manifold=5)
    >>> (task,) = make_tasks(pool, None, 0)
    >>> {name: int(mask.sum()) for name, mask in task.own_design_masks.items()}
    {'low_contrast_fork': 6, 'mixed_bolts': 6}
    """
    if pool.anomaly_classes is None:  # leave one class out: no anomaly has a design
        return {}
    names = list(pool.class_names)
    masks = {}
    for label in tested:
        name = names[label]
        if name not in MANIFOLDS:
            return {}
        base = base_design(MANIFOLDS[name]).name
        if base not in names:
            return {}
        masks[name] = (classes_test == label) | (classes_test == names.index(base))
    return masks
