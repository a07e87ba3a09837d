"""One training per cache entry, even when several processes ask for it at once.

``joblib.Memory`` does not lock: two processes that miss the same entry at
the same moment (two folds of a ``GridSearchCV`` that reach the same
training on two Dask workers) both train. :func:`locked` puts a file lock
around a cached call, named after the call's arguments, so the second
caller waits for the first and then loads its result. The lock files live
in the cache folder, so every process and machine that shares the folder
shares the locks (on a file system with working ``flock``, as local disks
and NFSv4 have).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import joblib
from filelock import FileLock

__all__ = ["locked", "LOCK_FOLDER"]

#: Folder of the lock files inside the cache folder.
LOCK_FOLDER = "danogan_sk_locks"


def locked(cached: Callable[..., Any], location: str | Path, ignore: Iterable[str] = ()
           ) -> Callable[..., Any]:
    """``cached`` (a ``Memory.cache`` result) behind a file lock per distinct call.

    Parameters
    ----------
    cached : callable
        The cached function.
    location : path
        The cache folder; locks go to ``location/danogan_sk_locks``.
    ignore : iterable of str
        Keyword arguments that are not part of the cache key (as given to
        ``Memory.cache``); they do not name the lock either.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> square = locked(joblib.Memory(folder, verbose=0).cache(pow), folder)
    >>> square(3, 2), square(3, 2)
    (9, 9)
    """
    ignored = frozenset(ignore)
    folder = Path(location) / LOCK_FOLDER

    def call(*args: Any, **kwargs: Any) -> Any:
        key = joblib.hash((args, {k: v for k, v in kwargs.items() if k not in ignored}))
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / f"{key}.lock")):
            return cached(*args, **kwargs)

    return call
