"""Scoring throughput and peak memory of the library against the thesis's ``anomaly_test``.

Run from the repository root::

    python benchmarks/bench_scoring.py
    python benchmarks/bench_scoring.py --sizes 28 --n-images 1024   # quicker
    python benchmarks/bench_scoring.py --neighbor-shifts 0 1        # the cost of neighbor_shift
    python benchmarks/bench_scoring.py --critic-snapshots 0 4       # the cost of critic_snapshots
    python benchmarks/bench_scoring.py --patch-term                 # the cost of the patch term

Both score the same untrained-but-fixed networks (the cost does not depend
on the weights): the library with ``score_components`` on the whole query
(as ``DAnoGANDetector.score_samples`` calls it, chunk by chunk), the
yardstick with the thesis's loop over batches of 128 and per-batch copies to
the host. Throughput is the median of alternated repeats. Peak memory is the
rise of the peak resident set size while scoring (Linux's ``VmHWM``, reset
just before), in a fresh child process for each implementation.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from yardstick import thesis_anomaly_test  # noqa: E402

from danogan_sk.nn import NetworkSpec, build_networks, to_fast_layout  # noqa: E402
from danogan_sk.critic_snapshots import CriticSnapshots  # noqa: E402
from danogan_sk.memory_bank import MemoryBank  # noqa: E402
from danogan_sk.scoring import neighbor_offsets, score_components  # noqa: E402


def _setup(name: str, image_size: int, n_generators: int, n_images: int):
    """The same weights for both; the library's in the layout a fitted detector scores with."""
    spec = NetworkSpec((1, image_size, image_size), n_generators=n_generators, latent_dim=30)
    nets = build_networks(spec, seed=0).eval()
    if name == "library":
        nets = to_fast_layout(nets, "cpu")
    gen = torch.Generator().manual_seed(0)
    query = torch.rand(n_images, 1, image_size, image_size, generator=gen) * 2 - 1
    return nets, query


def _library(nets, query) -> None:
    {name: value.cpu().numpy() for name, value in score_components(nets, query).items()}


def _yardstick(nets, query) -> None:
    thesis_anomaly_test(nets, query)


RUNNERS = {"library": _library, "yardstick": _yardstick}


def images_per_second(image_size: int, n_generators: int, n_images: int, repeats: int) -> dict[str, float]:
    setups = {name: _setup(name, image_size, n_generators, n_images) for name in RUNNERS}
    runs = {name: (lambda run=run, setup=setups[name]: run(*setup)) for name, run in RUNNERS.items()}
    for name, run in RUNNERS.items():
        nets, query = setups[name]
        run(nets, query[:256])  # warm-up
    return _median_rates(runs, n_images, repeats)


def neighbor_term_rates(image_size: int, n_generators: int, n_images: int, repeats: int,
                        bank_rows: int, shifts: list[int]) -> dict[str, float]:
    """Library scoring without a bank, and with a bank of ``bank_rows`` rows at each ``neighbor_shift``."""
    nets, query = _setup("library", image_size, n_generators, n_images)
    banks = {"no bank": None} | {f"bank of {bank_rows}, neighbor_shift={s}": _bank(nets, query, bank_rows, s)
                                 for s in shifts}
    return _warm_median_rates({name: (lambda q, bank=bank: score_components(nets, q, bank, patches=False))
                               for name, bank in banks.items()}, query, repeats)


def snapshot_rates(image_size: int, n_generators: int, n_images: int, repeats: int,
                   bank_rows: int, counts: list[int]) -> dict[str, float]:
    """The scoring of version 0.5.0's default (a bank of ``bank_rows`` rows, ``neighbor_shift=1``,
    no patch term) with each number of earlier critics (``critic_snapshots``) in ``counts``."""
    nets, query = _setup("library", image_size, n_generators, n_images)
    bank = _bank(nets, query, bank_rows, 1)
    snapshots = {}
    for count in counts:
        critics = None
        if count:
            weights = [build_networks(nets.spec, seed=1 + i).critic.state_dict() for i in range(count)]
            critics = CriticSnapshots(nets.spec, weights, [8 * 2**i for i in range(count)])
            critics.scales = torch.ones(count + 1)
        snapshots[f"critic_snapshots={count}"] = critics
    return _warm_median_rates({name: (lambda q, critics=critics: score_components(
        nets, q, bank, critics=critics, patches=False)) for name, critics in snapshots.items()}, query, repeats)


def patch_rates(image_size: int, n_generators: int, n_images: int, repeats: int,
                bank_rows: int) -> dict[str, float]:
    """Scoring with a bank of ``bank_rows`` rows at ``neighbor_shift=1``, without and with the
    ``patch`` term (one more search of the bank, position by position)."""
    nets, query = _setup("library", image_size, n_generators, n_images)
    bank = _bank(nets, query, bank_rows, 1)
    return _warm_median_rates({f"bank of {bank_rows}, neighbor_shift=1, {label}": (
        lambda q, patches=patches: score_components(nets, q, bank, patches=patches))
        for label, patches in (("no patch term", False), ("patch term", True))}, query, repeats)


def _bank(nets, query, bank_rows: int, shift: int) -> MemoryBank:
    """A bank of ``bank_rows`` random critic-feature rows, compared at ``neighbor_shift=shift``."""
    shape = tuple(nets.critic.features(query[:1]).shape[1:])
    vectors = torch.randn(bank_rows, math.prod(shape), generator=torch.Generator().manual_seed(1))
    return MemoryBank(vectors, 1, "euclidean", None, neighbor_offsets(shift), map_shape=shape)


def _warm_median_rates(scorings: dict, query, repeats: int) -> dict[str, float]:
    """:func:`_median_rates` of each ``scoring(query)``, after a warm-up of each on 256 images."""
    for scoring in scorings.values():
        scoring(query[:256])
    return _median_rates({name: (lambda scoring=scoring: scoring(query)) for name, scoring in scorings.items()},
                         len(query), repeats)


def _median_rates(runs: dict, n_images: int, repeats: int) -> dict[str, float]:
    """Images per second of each run, the median of ``repeats`` alternated timings."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: n_images / statistics.median(values) for name, values in times.items()}


def _memory_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_child(name: str, image_size: int, n_generators: int, n_images: int, threads: int, queue) -> None:
    torch.set_num_threads(threads)
    nets, query = _setup(name, image_size, n_generators, n_images)
    RUNNERS[name](nets, query[:8])  # load kernels before the baseline
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # Linux: reset the peak resident set size to the current one
    before = _memory_kib("VmRSS")
    RUNNERS[name](nets, query)
    queue.put((_memory_kib("VmHWM") - before) / 1024.0)


def peak_memory_mib(name: str, image_size: int, n_generators: int, n_images: int) -> float:
    """Rise of the peak RSS while ``name`` scores ``n_images`` images, in a fresh process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(
        target=_peak_child, args=(name, image_size, n_generators, n_images, torch.get_num_threads(), queue)
    )
    child.start()
    value = queue.get()
    child.join()
    return value


def _variant_table(args) -> None:
    """The library's scoring at each ``--neighbor-shifts`` or ``--critic-snapshots`` value, or
    without and with ``--patch-term``, the time of each against the first."""
    snapshots = args.critic_snapshots is not None
    setting = f"bank of {args.bank_rows}, neighbor_shift=1, " if snapshots else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n_images} images, "
          f"{args.generators} generators, {setting}median of {args.repeats}")
    print("| size | scoring | images/s | time against the first row |")
    print("|---:|---|---:|---:|")
    for size in args.sizes:
        if snapshots:
            rates = snapshot_rates(size, args.generators, args.n_images, args.repeats, args.bank_rows,
                                   args.critic_snapshots)
        elif args.patch_term:
            rates = patch_rates(size, args.generators, args.n_images, args.repeats, args.bank_rows)
        else:
            rates = neighbor_term_rates(size, args.generators, args.n_images, args.repeats,
                                        args.bank_rows, args.neighbor_shifts)
        first = next(iter(rates.values()))
        for name, rate in rates.items():
            print(f"| {size}x{size} | {name} | {rate:.0f} | {first / rate:.2f}x |", flush=True)
    if snapshots:
        for size in args.sizes:
            critic = build_networks(NetworkSpec((1, size, size), args.generators, 30), seed=0).critic
            mib = sum(t.numel() * t.element_size() for t in critic.state_dict().values()) / 2**20
            print(f"A kept critic at {size}x{size}: {mib:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64])
    parser.add_argument("--generators", type=int, default=15)
    parser.add_argument("--n-images", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--neighbor-shifts", type=int, nargs="+", default=None, metavar="SHIFT",
                        help="instead, the library's scoring with a memory bank at these neighbor_shift values")
    parser.add_argument("--critic-snapshots", type=int, nargs="+", default=None, metavar="COUNT",
                        help="instead, the default scoring with these numbers of earlier critics")
    parser.add_argument("--patch-term", action="store_true",
                        help="instead, the scoring with a memory bank without and with the patch term")
    parser.add_argument("--bank-rows", type=int, default=5000)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.critic_snapshots is not None or args.neighbor_shifts is not None or args.patch_term:
        _variant_table(args)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n_images} images, "
          f"{args.generators} generators, median of {args.repeats}")
    print("| size | library images/s | yardstick images/s | ratio | library peak MiB | yardstick peak MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        rates = images_per_second(size, args.generators, args.n_images, args.repeats)
        peaks = {name: peak_memory_mib(name, size, args.generators, args.n_images) for name in RUNNERS}
        print(f"| {size}x{size} | {rates['library']:.0f} | {rates['yardstick']:.0f} | "
              f"{rates['library'] / rates['yardstick']:.2f}x | {peaks['library']:.0f} | "
              f"{peaks['yardstick']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
