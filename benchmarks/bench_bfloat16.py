"""Phase-1 and xzx epochs in float32 against bfloat16 autocast on the CPU, side by side.

Run from the repository root::

    python benchmarks/bench_bfloat16.py --data-home ../shared/data --threads 1

The library trains in float32. CPUs with bfloat16 matrix units (AMX, Intel
Xeon since Sapphire Rapids) convolve in bfloat16 several times faster; this
script measures what that gives a whole training epoch. It fits the default
detector on 5,000 MNIST training images for ``--epochs`` phase-1 epochs and
one xzx epoch, once per mode and alternately, the training epochs run under
``torch.autocast("cpu", dtype=torch.bfloat16)`` in the bfloat16 fits
(scoring stays in float32), and prints the median CPU seconds of an epoch
per mode. The library has no such option; the script wraps its epoch
functions, and empties the generators' cached sub-pixel weights after each
epoch, as they are computed in the precision of the step that filled them.

It also times one convolution (forward and backward, batch 64, channels
last) per mode, to separate the convolutions' gain from the epoch's.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from unittest import mock

import numpy as np
import torch

from danogan_sk import DAnoGANDetector, training
from danogan_sk.datasets import load_mnist

MODES = ("float32", "bfloat16")


def precision(mode: str):
    if mode == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def timed_epochs(function, mode: str, times: list[float]):
    """``function`` (an epoch of ``training``) run in ``mode``, its CPU seconds appended to ``times``."""

    def epoch(run, *args, **kwargs):
        start = time.process_time()
        with precision(mode):
            result = function(run, *args, **kwargs)
        for module in run.nets.modules():
            module.__dict__.pop("_subpixel_cache", None)
        times.append(time.process_time() - start)
        return result

    return epoch


def fit_epochs(X: np.ndarray, mode: str, n_epochs: int) -> tuple[list[float], list[float]]:
    """CPU seconds of each phase-1 and each xzx epoch of a default fit in ``mode``."""
    phase1, xzx = [], []
    with mock.patch.object(training, "_phase1_epoch", timed_epochs(training._phase1_epoch, mode, phase1)), \
            mock.patch.object(training, "_xzx_epoch", timed_epochs(training._xzx_epoch, mode, xzx)):
        DAnoGANDetector(n_epochs=n_epochs, xzx_epochs=1, random_state=0).fit(X)
    return phase1, xzx


def conv_ms(mode: str, repeats: int = 20) -> float:
    """Milliseconds of a 64 -> 128 channel 5x5 stride-2 convolution on 14x14 maps, forward and backward."""
    dtype = torch.bfloat16 if mode == "bfloat16" else torch.float32
    x = torch.randn(64, 64, 14, 14).to(memory_format=torch.channels_last, dtype=dtype).requires_grad_()
    conv = torch.nn.Conv2d(64, 128, 5, stride=2, padding=2).to(dtype=dtype, memory_format=torch.channels_last)
    for _ in range(3):
        conv(x).sum().backward()
    start = time.perf_counter()
    for _ in range(repeats):
        conv(x).sum().backward()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--epochs", type=int, default=3, help="phase-1 epochs per fit")
    parser.add_argument("--repeats", type=int, default=2, help="fits per mode, alternately")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, _ = load_mnist(data_home=args.data_home)
    X = X[:5000].astype(np.float32) / 255.0
    print(f"AMX tiles: {torch.cpu._is_amx_tile_supported()}, "
          f"AVX-512 bf16: {torch.cpu._is_avx512_bf16_supported()}, threads: {args.threads}")
    phase1 = {mode: [] for mode in MODES}
    xzx = {mode: [] for mode in MODES}
    conv = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            p, x = fit_epochs(X, mode, args.epochs)
            phase1[mode] += p
            xzx[mode] += x
            conv[mode].append(conv_ms(mode))
    print("\n| mode | phase-1 epoch CPU s (median) | xzx epoch CPU s (median) | one convolution ms (median) |")
    print("|---|---:|---:|---:|")
    for mode in MODES:
        print(f"| {mode} | {statistics.median(phase1[mode]):.2f} | {statistics.median(xzx[mode]):.2f} | "
              f"{statistics.median(conv[mode]):.1f} |")
    ratio = statistics.median(phase1["float32"]) / statistics.median(phase1["bfloat16"])
    print(f"\nphase-1 epoch: bfloat16 {ratio:.2f}x as fast as float32")


if __name__ == "__main__":
    main()
