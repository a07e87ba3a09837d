"""Shared pytest fixtures."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

_DATASET_DIRS = ("mnist", "fashion-mnist")


def _candidate_data_homes():
    env = os.environ.get("DANOGAN_DATA_HOME")
    if env:
        yield Path(env).expanduser()
    yield Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_home() -> Path:
    """Folder holding ``mnist/`` and ``fashion-mnist/`` IDX files, else skip.

    Looked up in ``$DANOGAN_DATA_HOME``, then in ``../shared/data`` relative
    to the project root. Tests read it with ``download=False``: they never
    download on their own.
    """
    for home in _candidate_data_homes():
        if all((home / name).is_dir() for name in _DATASET_DIRS):
            return home.resolve()
    pytest.skip(
        "MNIST/Fashion-MNIST IDX files not found: set DANOGAN_DATA_HOME to a folder "
        "holding mnist/ and fashion-mnist/, or fill ~/danogan_sk_data with "
        "danogan_sk.datasets.mnist.load_mnist('all') and load_fashion_mnist('all') "
        "and point DANOGAN_DATA_HOME there"
    )


@pytest.fixture(scope="module")
def images():
    """Tiny training and query images for the score terms' tests: (80, 8, 8) and (30, 8, 8)."""
    rng = np.random.default_rng(0)
    return rng.random((80, 8, 8)), rng.random((30, 8, 8))


@contextlib.contextmanager
def single_thread():
    """torch on one thread inside the block: equal results need the same order of float
    reductions in the fits compared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def one_thread():
    """:func:`single_thread` for one test."""
    with single_thread():
        yield
