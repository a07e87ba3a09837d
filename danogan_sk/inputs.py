"""From what users pass to what the networks read: validated rows, images, scaling, chunks.

A detector takes 2-D rows (a feature table, or flattened images with
``image_shape``), image arrays ``(n, H, W)`` or ``(n, C, H, W)``, nested
lists, data frames and memory maps. :class:`InputMixin` turns them into
float32 network input on the generators' [-1, 1] range, validated and
converted one chunk of rows at a time, so that scoring a memory map never
holds more than one chunk in memory.
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils.validation import validate_data

from .scoring import in_chunks

__all__ = ["InputMixin", "learn_scaling", "nested_images"]

# Bytes of working memory per input value while scoring: the activations of
# the critic, encoder and generator passes, with headroom.
_SCORING_BYTES_PER_VALUE = 4 * 128

# Bytes of working memory per query and memory-bank row while scoring: the
# similarities, the distances and their top-k selection, in float32.
_BANK_BYTES_PER_ENTRY = 4 * 4

# Smallest image side the convolutional stacks handle.
_MIN_IMAGE_SIDE = 4

# Bound on network inputs, in units of half the training range.
_INPUT_CLIP = 1e6



class InputMixin:
    """Input validation, scaling and chunking of ``DAnoGANDetector``.

    Reads the parameter ``image_shape`` and the fitted ``image_shape_``,
    ``data_min_``, ``data_range_``, ``device_``, ``memory_bank_`` and
    ``networks_`` (whose routing may copy weights per row).
    """

    def _in_chunks(self, X, validate: bool, compute):
        """Yield ``compute(network input)`` over chunks of rows sized to ``working_memory``.

        Each chunk is validated and converted on its own, so scoring a
        ``numpy.memmap`` never holds more than one chunk in memory.
        """
        X = nested_images(X)
        if validate and (getattr(X, "ndim", 0) < 2 or 0 in X.shape):
            # lists, 1-D and empty input: the whole-array check gives sklearn's errors
            X, validate = self._validate_rows(X, reset=False), False
        n_samples = X.shape[0]
        row_values = int(np.prod(X.shape[1:]))
        bank = getattr(self, "memory_bank_", None)
        bank_entries = 0 if bank is None else len(bank)
        device = torch.device(self.device_)
        networks = getattr(self, "networks_", None)
        routed_bytes = 0 if networks is None else networks.routed_bytes_per_row(device)
        row_bytes = _SCORING_BYTES_PER_VALUE * row_values + _BANK_BYTES_PER_ENTRY * bank_entries
        chunk_rows = get_chunk_n_rows(row_bytes=row_bytes + routed_bytes, max_n_rows=n_samples)

        def prepare(chunk):
            if validate:
                chunk = self._validate_rows(chunk, reset=False)
            return torch.from_numpy(self._to_network_input(chunk)).to(device)

        return in_chunks(compute, X, chunk_rows, prepare, between=_release_freed_memory)

    def _to_network_input(self, X: np.ndarray) -> np.ndarray:
        """Rows in the data's units -> float32 network input on [-1, 1], shaped for the networks."""
        scaled = (X - self.data_min_) / self.data_range_ * 2.0 - 1.0
        # Values far outside the training range are anomalous either way;
        # clipping keeps squares and activations finite in float32.
        np.clip(scaled, -_INPUT_CLIP, _INPUT_CLIP, out=scaled)
        shape = self.image_shape_ or (X.shape[1],)
        return np.ascontiguousarray(scaled, dtype=np.float32).reshape(-1, *shape)

    def _resolve_image_shape(self, X) -> tuple[int, int, int] | None:
        """The ``(C, H, W)`` the networks will use, from ``image_shape`` and ``X``'s shape."""
        requested = None
        if self.image_shape is not None:
            requested = _as_chw(self.image_shape, "image_shape")
        ndim = getattr(X, "ndim", None)
        if ndim is not None and ndim > 2:
            _reject_channels_last(X)
            from_data = _as_chw(X.shape[1:], "X.shape[1:]")
            if requested is not None and requested != from_data:
                raise ValueError(
                    f"image_shape={tuple(self.image_shape)} does not match X of shape {X.shape}."
                )
            return from_data
        if requested is not None:
            n_features = _n_features(X)
            if n_features is not None and n_features != int(np.prod(requested)):
                raise ValueError(
                    f"image_shape={tuple(self.image_shape)} needs {int(np.prod(requested))} "
                    f"features per sample, but X has {n_features} features."
                )
        return requested

    def _validate_rows(self, X, reset: bool) -> np.ndarray:
        """Validate ``X`` and return it as float rows (n_samples, n_features)."""
        ndim = getattr(X, "ndim", None)
        if ndim is not None and ndim > 2:
            X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X",
                            ensure_min_samples=2 if reset else 1)
            if not reset:
                _reject_channels_last(X)
                shape = _as_chw(X.shape[1:], "X.shape[1:]")
                if shape != self.image_shape_:
                    raise ValueError(
                        f"X has images of shape {X.shape[1:]}, but {type(self).__name__} "
                        f"was fitted on images of shape {self.image_shape_}."
                    )
            X = X.reshape(X.shape[0], -1)
        return validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
        )


def _find_malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _find_malloc_trim()


def _release_freed_memory() -> None:
    """Return freed heap memory to the OS between scoring chunks.

    After large frees glibc raises its mmap threshold and keeps later
    chunk-sized buffers on a heap it does not shrink, so resident memory
    grew with the number of rows scored (1.9 KB per 28x28 row) though
    nothing was referenced any more. ``malloc_trim`` keeps it flat.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def learn_scaling(X: np.ndarray, per_feature: bool) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and range of the training data (one value for images, one per feature otherwise)."""
    X64 = X.astype(np.float64, copy=False)
    axis = 0 if per_feature else None
    low = np.atleast_1d(X64.min(axis=axis))
    span = np.atleast_1d(X64.max(axis=axis)) - low
    # A constant feature maps to -1 instead of dividing by zero.
    span[~(span > 0)] = 1.0
    return low, span


def nested_images(X):
    """A nested list (or tuple) of images as an array, so it is read like one; anything else as is."""
    if hasattr(X, "ndim") or not isinstance(X, (list, tuple)):
        return X
    try:
        array = np.asarray(X)
    except ValueError:  # ragged: scikit-learn's validation reports it
        return X
    return array if array.ndim > 2 else X


def _as_chw(shape, name: str) -> tuple[int, int, int]:
    shape = tuple(shape)
    if len(shape) not in (2, 3) or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
        raise ValueError(
            f"{name} must be (H, W) or (C, H, W) with positive integers, got {shape!r}."
        )
    if len(shape) == 2:
        shape = (1,) + shape
    if min(shape[1:]) < _MIN_IMAGE_SIDE:
        raise ValueError(
            f"{name}={shape[1:]}: images must be at least {_MIN_IMAGE_SIDE}x{_MIN_IMAGE_SIDE} "
            "pixels. For smaller inputs pass 2-D rows without image_shape (fully connected "
            "networks)."
        )
    return tuple(int(s) for s in shape)


def _reject_channels_last(X) -> None:
    if X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        raise ValueError(
            f"X of shape {X.shape} looks channels-last; images must be (n, C, H, W): "
            "use np.moveaxis(X, -1, 1)."
        )
    if X.ndim > 4:
        raise ValueError(f"X must be 2-D, 3-D or 4-D, got an array of shape {X.shape}.")


def _n_features(X) -> int | None:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2:
        return int(shape[1])
    return None

