"""Where the examples find MNIST, and their fast mode. Not part of the package.

MNIST is read from ``$DANOGAN_DATA_HOME`` if set, else from ``../shared/data``
next to the repository when it holds ``mnist/``, else from
``danogan_sk.datasets.get_data_home()`` (``~/danogan_sk_data``), where
``load_mnist`` downloads and verifies the files the first time.

``DANOGAN_FAST=1`` makes every example a seconds-long smoke run: a few
hundred samples, one epoch, small networks. The numbers it prints then say
nothing about the method, only that the example works.
"""

import os
from pathlib import Path

import numpy as np

from danogan_sk.datasets import load_mnist

FAST = os.environ.get("DANOGAN_FAST") == "1"

#: Network and training settings small enough for a smoke run on a CPU.
FAST_PARAMS = {
    "n_generators": 3,
    "n_epochs": 1,
    "xzx_epochs": 1,
    "batch_size": 32,
    "base_channels": 8,
    "max_channels": 32,
}


def data_home():
    """The folder holding ``mnist/``, or None for the package's default."""
    env = os.environ.get("DANOGAN_DATA_HOME")
    if env:
        return Path(env).expanduser()
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if (shared / "mnist").is_dir():
        return shared
    return None


def mnist(subset="all"):
    """MNIST images ``(n, 28, 28)`` uint8 and labels, downloaded if missing."""
    return load_mnist(subset, data_home=data_home(), download=True)


def subsample(X, y, n, random_state=0):
    """At most ``n`` rows of ``(X, y)``, drawn at random without replacement."""
    if len(X) <= n:
        return X, y
    rows = np.random.default_rng(random_state).choice(len(X), size=n, replace=False)
    rows.sort()
    return X[rows], y[rows]
