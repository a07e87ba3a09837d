"""MNIST and Fashion-MNIST loaders.

The images are read from the standard IDX files (gzip-compressed or not) in
``<data_home>/<dataset>/``; missing files are downloaded from the data sets'
public mirrors into that folder. See :func:`load_mnist`,
:func:`load_fashion_mnist` and :func:`get_data_home`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import struct
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._home import DATA_HOME_ENV, get_data_home

__all__ = [
    "CHECKSUMS",
    "DATASETS",
    "MIRRORS",
    "DownloadError",
    "get_data_home",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

#: Names of the data sets this module loads; also their folder names.
DATASETS: Tuple[str, ...] = ("mnist", "fashion-mnist")

#: Base URLs tried in order when a file is missing. Each file is fetched as
#: ``<mirror><file name>.gz``. Pass ``mirrors=`` to the loaders to override.
MIRRORS: Dict[str, Tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

#: File stems (without ``.gz``) of the images and labels of each subset.
_FILES: Dict[str, Tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: md5 of each file's *decompressed* content. The gzip wrappers differ between
#: copies of the same data (re-compression changes the header), the IDX bytes
#: do not, so only the latter identify the data.
CHECKSUMS: Dict[str, Dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

_SUBSETS = ("train", "test", "all")
_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (n, rows, cols)
_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (n,)
_IMAGE_SHAPE = (28, 28)
_N_CLASSES = 10
_CHUNK = 1 << 16
#: Seconds to wait for a mirror to connect or to send the next chunk.
DOWNLOAD_TIMEOUT = 60.0


class DownloadError(OSError):
    """A data file could not be downloaded from any mirror."""


# ---------------------------------------------------------------- IDX parsing


def _read_content(path: Path, gz: Optional[bool] = None) -> bytes:
    """Return the file's IDX bytes, decompressing gzip (by default ``*.gz``)."""
    raw = path.read_bytes()
    if not (path.suffix == ".gz" if gz is None else gz):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        # BadGzipFile is an OSError, a truncated stream an EOFError.
        raise ValueError(f"{path}: not a valid gzip file ({exc})") from exc


def _parse_idx(data: bytes, source: PathLike, magic: Optional[int] = None) -> np.ndarray:
    """Parse IDX bytes of unsigned bytes into an array; errors name ``source``."""
    if len(data) < 4:
        raise ValueError(f"{source}: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise ValueError(
            f"{source}: bad IDX magic number 0x{found:08x}, expected 0x{magic:08x}"
        )
    if found >> 8 != 0x08:  # two zero bytes, then 0x08 = unsigned byte
        raise ValueError(f"{source}: bad IDX magic number 0x{found:08x} (not unsigned bytes)")
    ndim = found & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{source}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != expected:
        raise ValueError(
            f"{source}: IDX payload has {len(data) - header} bytes but the header "
            f"{tuple(dims)} says {expected} (truncated or corrupt file)"
        )
    # Copy so that callers get a writable array that owns its memory.
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=header).reshape(dims).copy()


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file of unsigned bytes (``*.gz`` files are decompressed).

    Parameters
    ----------
    path : str or path-like
        The file. A name ending in ``.gz`` is read as gzip.

    Returns
    -------
    numpy.ndarray of uint8
        Shaped as the header says, e.g. ``(n, 28, 28)`` for images.

    Raises
    ------
    ValueError
        If the file is not valid gzip, has a bad magic number, or its payload
        length does not match its header. The message names the file.

    Examples
    --------
    >>> import gzip, tempfile, pathlib
    >>> from danogan_sk.datasets.mnist import read_idx
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> _ = path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])))
    >>> read_idx(path)
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    return _parse_idx(_read_content(path), path)


# ------------------------------------------------------------------ download


def _fetch_to(url: str, destination: Path, timeout: float) -> None:
    """Stream ``url`` into ``destination``; fail on a short body."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(destination, "wb") as out:
        announced = response.headers.get("Content-Length")
        received = 0
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            received += len(chunk)
    # http.client returns b"" rather than raising when the peer closes early.
    if announced is not None and received != int(announced):
        raise OSError(f"connection closed after {received} of {announced} bytes")


def _check_md5(data: bytes, expected: str, source: PathLike) -> None:
    digest = hashlib.md5(data).hexdigest()
    if digest != expected:
        raise ValueError(f"{source}: md5 of the content is {digest}, expected {expected}")


def _download(stem: str, folder: Path, mirrors: Sequence[str], md5: str) -> Path:
    """Download ``<stem>.gz`` into ``folder`` atomically and return its path.

    The file appears under its final name only once its decompressed content
    matched ``md5``; a failed attempt leaves no file behind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.gz"
    failures: List[str] = []
    for mirror in mirrors:
        url = mirror if mirror.endswith("/") else mirror + "/"
        url += target.name
        # Same folder as the target so that os.replace is an atomic rename.
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            logger.info("downloading %s", url)
            _fetch_to(url, tmp, DOWNLOAD_TIMEOUT)
            _check_md5(_read_content(tmp, gz=True), md5, url)
            os.replace(tmp, target)
            return target
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append(f"  {url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DownloadError(
        f"could not download {target.name} into {folder}:\n" + "\n".join(failures)
    )


# ------------------------------------------------------------------- loading


def _find_local(folder: Path, stem: str) -> Optional[Path]:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _locate(
    dataset: str, stem: str, folder: Path, download: bool, mirrors: Sequence[str]
) -> Path:
    """Return the local path of a file, downloading it if allowed."""
    path = _find_local(folder, stem)
    if path is not None:
        return path
    if not download:
        raise FileNotFoundError(
            f"{dataset} file {folder / stem}.gz (or without .gz) not found. Pass "
            f"download=True to fetch it from {mirrors[0] if mirrors else 'a mirror'}, or "
            f"put the IDX files in {folder} (choose the folder with data_home= or the "
            f"{DATA_HOME_ENV} environment variable)."
        )
    return _download(stem, folder, mirrors, CHECKSUMS[dataset][stem])


def _load_file(dataset: str, path: Path, magic: int, verify: bool) -> np.ndarray:
    data = _read_content(path)
    if verify:
        try:
            _check_md5(data, CHECKSUMS[dataset][path.name.removesuffix(".gz")], path)
        except ValueError as exc:
            raise ValueError(
                f"{exc}; delete the file to download it again, or pass verify=False"
            ) from None
    return _parse_idx(data, path, magic)


def _load_subset(
    dataset: str, subset: str, folder: Path, download: bool, mirrors: Sequence[str], verify: bool
) -> Tuple[np.ndarray, np.ndarray]:
    image_stem, label_stem = _FILES[subset]
    image_path = _locate(dataset, image_stem, folder, download, mirrors)
    label_path = _locate(dataset, label_stem, folder, download, mirrors)
    images = _load_file(dataset, image_path, _IMAGES_MAGIC, verify)
    labels = _load_file(dataset, label_path, _LABELS_MAGIC, verify)
    if images.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(f"{image_path}: images are {images.shape[1:]}, expected {_IMAGE_SHAPE}")
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
        )
    if labels.size and labels.max() >= _N_CLASSES:
        raise ValueError(f"{label_path}: label {labels.max()} outside 0..{_N_CLASSES - 1}")
    return images, labels.astype(np.int64)


def load_dataset(
    dataset: str,
    subset: str = "train",
    data_home: Optional[PathLike] = None,
    download: bool = True,
    *,
    mirrors: Optional[Sequence[str]] = None,
    verify: bool = True,
) -> Tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST by name.

    :func:`load_mnist` and :func:`load_fashion_mnist` are this function with
    ``dataset`` fixed; see :func:`load_mnist` for the parameters.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist"}
        Which data set; also the name of its folder under ``data_home``.
    subset, data_home, download, mirrors, verify
        As in :func:`load_mnist`.

    Returns
    -------
    images : ndarray of shape (n, 28, 28), dtype uint8
    labels : ndarray of shape (n,), dtype int64

    Examples
    --------
    >>> from danogan_sk.datasets.mnist import load_dataset
    >>> X, y = load_dataset("fashion-mnist", "test")  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((10000, 28, 28), (10000,))
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    if subset not in _SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; choose one of {_SUBSETS}")
    if mirrors is None:
        mirrors = MIRRORS[dataset]
    elif isinstance(mirrors, str):
        mirrors = (mirrors,)
    folder = get_data_home(data_home) / dataset
    if subset != "all":
        return _load_subset(dataset, subset, folder, download, mirrors, verify)
    parts = [_load_subset(dataset, s, folder, download, mirrors, verify) for s in ("train", "test")]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_mnist(
    subset: str = "train",
    data_home: Optional[PathLike] = None,
    download: bool = True,
    *,
    mirrors: Optional[Sequence[str]] = None,
    verify: bool = True,
) -> Tuple[np.ndarray, np.ndarray]:
    """Load the MNIST handwritten digits (classes 0-9).

    Reads the four standard IDX files, named ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte``, each with or without ``.gz``, from
    ``<data_home>/mnist/``. Missing files are downloaded there when
    ``download=True``.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        ``"train"``: the 60,000 training images; ``"test"``: the 10,000 test
        images; ``"all"``: train then test, concatenated (70,000).
    data_home : str or path-like, default=None
        Folder holding the data sets, see :func:`get_data_home`: ``None``
        means the ``DANOGAN_DATA_HOME`` environment variable, else
        ``~/danogan_sk_data``.
    download : bool, default=True
        Download missing files from the mirrors. With ``False``, a missing
        file raises :class:`FileNotFoundError`.
    mirrors : sequence of str, default=None
        Base URLs tried in order; ``None`` means ``MIRRORS["mnist"]``. The
        file ``<mirror><name>.gz`` is fetched.
    verify : bool, default=True
        Check the md5 of each local file's decompressed content (about 0.07 s
        for the 47 MB training images, against 0.3 s to decompress them).
        Downloaded files are always checked before they are kept.

    Returns
    -------
    images : ndarray of shape (n, 28, 28), dtype uint8
        Grey levels 0-255, as stored in the files.
    labels : ndarray of shape (n,), dtype int64
        Class of each image, 0-9.

    Raises
    ------
    FileNotFoundError
        A file is missing and ``download=False``.
    DownloadError
        A file is missing and every mirror failed (an :class:`OSError`); the
        message lists each URL and why it failed.
    ValueError
        A file is corrupt (bad gzip, bad IDX header, truncated, wrong md5), or
        images and labels disagree in number.

    Examples
    --------
    >>> from danogan_sk.datasets.mnist import load_mnist
    >>> X, y = load_mnist("test")  # doctest: +SKIP
    >>> X.shape, X.dtype, y[:5]  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'), array([7, 2, 1, 0, 4]))
    """
    return load_dataset("mnist", subset, data_home, download, mirrors=mirrors, verify=verify)


def load_fashion_mnist(
    subset: str = "train",
    data_home: Optional[PathLike] = None,
    download: bool = True,
    *,
    mirrors: Optional[Sequence[str]] = None,
    verify: bool = True,
) -> Tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST (Zalando clothing images, classes 0-9).

    Same files, parameters and return values as :func:`load_mnist`, read from
    ``<data_home>/fashion-mnist/``; ``mirrors=None`` means
    ``MIRRORS["fashion-mnist"]``. The classes, in label order, are T-shirt/top,
    Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot;
    each has 6,000 training and 1,000 test images.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        Which part; ``"all"`` is the training images followed by the test images.
    data_home : str or path-like, optional
        Folder holding ``fashion-mnist/``; see :func:`get_data_home`.
    download : bool, default=True
        Download missing files from ``mirrors`` into ``data_home``.
    mirrors : sequence of str, optional
        Base URLs to try in order.
    verify : bool, default=True
        Check the md5 of each file's decompressed content.

    Returns
    -------
    images : ndarray of shape (n, 28, 28), uint8
    labels : ndarray of shape (n,), int64

    Examples
    --------
    >>> from danogan_sk.datasets.mnist import load_fashion_mnist
    >>> X, y = load_fashion_mnist("all")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (70000, 28, 28)
    """
    return load_dataset(
        "fashion-mnist", subset, data_home, download, mirrors=mirrors, verify=verify
    )
