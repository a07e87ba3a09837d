"""A cached call made at once by two processes sharing the cache folder runs once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import joblib

from danogan_sk.cache_lock import LOCK_FOLDER, locked


def _slow_square(x: int, marker_folder: str) -> int:
    """``x * x``, leaving one file in ``marker_folder`` per actual call."""
    (Path(marker_folder) / uuid.uuid4().hex).touch()
    time.sleep(1.5)  # long enough for the other process to ask for the same entry meanwhile
    return x * x


def _cached_square(cache: str, marker_folder: str) -> int:
    square = joblib.Memory(cache, verbose=0).cache(_slow_square)
    return locked(square, cache)(7, marker_folder)


def test_two_processes_asking_for_one_entry_compute_it_once(tmp_path):
    cache, markers = tmp_path / "cache", tmp_path / "calls"
    markers.mkdir()
    results = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_cached_square)(str(cache), str(markers)) for _ in range(2))
    assert results == [49, 49]
    assert len(list(markers.iterdir())) == 1
    assert len(list((cache / LOCK_FOLDER).iterdir())) == 1


def test_other_arguments_are_other_locks(tmp_path):
    square = locked(joblib.Memory(tmp_path, verbose=0).cache(pow), tmp_path)
    assert (square(2, 2), square(3, 2), square(3, 2)) == (4, 9, 9)
    assert len(list((tmp_path / LOCK_FOLDER).iterdir())) == 2
