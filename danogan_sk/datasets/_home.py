"""Where the data sets of :mod:`danogan_sk.datasets` live on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

#: Environment variable naming the data folder when no ``data_home`` is passed.
DATA_HOME_ENV = "DANOGAN_DATA_HOME"

#: Folder used when neither the argument nor the environment variable is set.
DEFAULT_DATA_HOME = Path("~") / "danogan_sk_data"


def get_data_home(data_home: Optional[Union[str, os.PathLike]] = None) -> Path:
    """Return the folder that holds the downloaded data sets.

    The folder is resolved like :func:`sklearn.datasets.get_data_home`: the
    ``data_home`` argument if given, else the ``DANOGAN_DATA_HOME`` environment
    variable if set and not empty, else ``~/danogan_sk_data``. A leading ``~``
    is expanded. Each data set lives in a sub-folder named after it, e.g.
    ``<data_home>/mnist/``.

    Unlike scikit-learn, the folder is *not* created here: it is created only
    when a download needs it, so that merely reading never writes to disk.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use. ``None`` means: environment variable, then default.

    Returns
    -------
    pathlib.Path
        The resolved folder (it may not exist yet).

    Examples
    --------
    >>> from danogan_sk.datasets.mnist import get_data_home
    >>> str(get_data_home("/tmp/my_data"))
    '/tmp/my_data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or DEFAULT_DATA_HOME
    return Path(data_home).expanduser()
