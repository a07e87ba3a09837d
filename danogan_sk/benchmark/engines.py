"""The joblib backend of a cluster engine, for the length of a ``with`` block.

``danogan bench --backend dask --scheduler ADDRESS`` connects a
``distributed.Client`` to a running Dask scheduler and makes joblib's
``"dask"`` backend the active one; ``--backend ray`` does the same with
Ray's joblib backend. The engine places the runs on its workers; this module
only connects to it. Dask and Ray are optional: they are imported here, on
use, never by ``import danogan_sk``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import joblib

__all__ = ["BACKENDS", "joblib_engine"]

#: ``--backend`` choices: joblib's local processes, Dask, Ray.
BACKENDS = ("loky", "dask", "ray")


@contextlib.contextmanager
def joblib_engine(backend: str = "loky", scheduler: str | None = None) -> Iterator[None]:
    """Make ``backend`` joblib's active backend inside the block.

    Parameters
    ----------
    backend : {"loky", "dask", "ray"}
        ``"loky"``: processes on this machine (joblib's default).
        ``"dask"``: the workers of the Dask scheduler at ``scheduler``.
        ``"ray"``: the Ray cluster at ``scheduler`` (``None``: Ray's default,
        a local one unless ``RAY_ADDRESS`` is set).
    scheduler : str or None
        Address of the engine's scheduler, such as ``tcp://10.0.0.5:8786``.

    Raises
    ------
    ImportError
        When the engine's packages are not installed, naming them.
    ValueError
        For an unknown backend, or Dask without a scheduler address.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend == "loky":
        if scheduler is not None:
            raise ValueError("--scheduler is the address of a Dask or Ray scheduler; "
                             "add --backend dask or --backend ray")
        yield
    elif backend == "dask":
        with _dask_client(scheduler), joblib.parallel_config(backend="dask"):
            yield
    else:
        with _ray_cluster(scheduler), joblib.parallel_config(backend="ray"):
            yield


@contextlib.contextmanager
def _dask_client(scheduler: str | None) -> Iterator[object]:
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            "--backend dask needs the packages dask and distributed: "
            "pip install 'danogan-sk[dask]'"
        ) from None
    if scheduler is None:
        raise ValueError("--backend dask needs --scheduler ADDRESS, the Dask scheduler's address "
                         "(tcp://HOST:8786, printed by dask scheduler)")
    with Client(scheduler) as client:
        yield client


@contextlib.contextmanager
def _ray_cluster(scheduler: str | None) -> Iterator[None]:
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError:
        raise ImportError("--backend ray needs Ray, which is not installed: pip install 'ray[default]'") from None
    register_ray()
    ray.init(address=scheduler)
    try:
        yield
    finally:
        ray.shutdown()
