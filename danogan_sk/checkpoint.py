"""Checkpoint files of a training run: atomic writes, integrity check, run fingerprint.

A checkpoint is ``MAGIC + sha256(payload) + payload`` where the payload is a
``torch.save`` of the training state. Writing goes to a temporary file that
replaces the old checkpoint only once complete, so an interrupted write
leaves the previous checkpoint intact; a truncated or altered file fails the
checksum and is reported, never half-loaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["CheckpointError", "run_fingerprint", "save_checkpoint", "load_checkpoint"]

_MAGIC = b"DANOGAN-CHECKPOINT-1\n"
_DIGEST_SIZE = 32


class CheckpointError(ValueError):
    """A checkpoint file is truncated, corrupt, or belongs to another training run."""


def run_fingerprint(X: np.ndarray, *settings) -> str:
    """A digest of the training data and every setting that changes training."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X).tobytes())
    digest.update(repr(X.shape).encode())
    for item in settings:
        digest.update(repr(item).encode())
    return digest.hexdigest()


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically, with a checksum."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, verifying its checksum."""
    data = Path(path).read_bytes()
    header = len(_MAGIC) + _DIGEST_SIZE
    if len(data) < header or not data.startswith(_MAGIC):
        raise CheckpointError(f"{path} is not a danogan_sk checkpoint, or is truncated.")
    digest, payload = data[len(_MAGIC) : header], data[header:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(
            f"{path} is truncated or corrupt (checksum mismatch); delete it to train from scratch."
        )
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
