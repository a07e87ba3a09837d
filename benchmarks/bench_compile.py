"""Does ``torch.compile`` pay for its compile time within one ``fit``?

Run from the repository root::

    python benchmarks/bench_compile.py                  # 28x28, 15 generators
    python benchmarks/bench_compile.py --sizes 28 64

The critic is most of a training cycle and is the only part whose shapes
are fixed (the generators and encoders see per-cluster groups whose sizes
change every step, which would recompile). This script compiles the
critic's forward and its explicit input gradient with ``torch.compile``,
runs the library's training cycle with and without them, and prints:

* the first compiled cycle's time (compilation included) and the steady
  throughput of both;
* the break-even point: how many cycles the compiled version needs to win
  back its compile time;
* how many cycles a ``DAnoGANDetector()`` fit on 10,000 images makes, so
  the two can be compared.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import LibraryCycle, real_batches  # noqa: E402

from danogan_sk.nn import NetworkSpec  # noqa: E402
from danogan_sk.training import TrainingConfig  # noqa: E402


def compile_critic(cycle: LibraryCycle) -> None:
    """Replace the critic's forward and input gradient by compiled versions, in place."""
    critic = cycle.nets.critic
    critic.forward = torch.compile(critic.forward, dynamic=False)
    critic.input_gradient = torch.compile(critic.input_gradient, dynamic=False)


def timed(run, batches) -> float:
    start = time.perf_counter()
    run(batches)
    return time.perf_counter() - start


def measure(size: int, n_generators: int, batch_size: int, repeats: int) -> dict[str, float]:
    config = TrainingConfig(batch_size=batch_size)
    spec = NetworkSpec((1, size, size), n_generators=n_generators, latent_dim=30)
    batches = real_batches(spec.input_shape, batch_size, config.n_critic, seed=0)
    eager, compiled = LibraryCycle(spec, config, 0), LibraryCycle(spec, config, 0)
    compile_critic(compiled)
    first_compiled = timed(compiled, batches)
    eager(batches)  # warm-up
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(repeats):
        times["eager"].append(timed(eager, batches))
        times["compiled"].append(timed(compiled, batches))
    eager_s, compiled_s = (statistics.median(times[k]) for k in ("eager", "compiled"))
    saved = eager_s - compiled_s
    return {
        "first_compiled_s": first_compiled,
        "eager_samples_s": config.n_critic * batch_size / eager_s,
        "compiled_samples_s": config.n_critic * batch_size / compiled_s,
        "break_even_cycles": (first_compiled - eager_s) / saved if saved > 0 else math.inf,
    }


def default_fit_cycles(n_samples: int = 10_000) -> int:
    """Training cycles of ``DAnoGANDetector()`` (10 epochs, batch 64, n_critic 5) on ``n_samples``."""
    config = TrainingConfig()
    return config.n_epochs * (n_samples // config.batch_size) // config.n_critic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28])
    parser.add_argument("--generators", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.generators} generators, median of {args.repeats}; a default fit on 10,000 "
          f"images makes {default_fit_cycles()} cycles")
    print("| size | first compiled cycle s | eager samples/s | compiled samples/s | ratio "
          "| break-even cycles |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        r = measure(size, args.generators, args.batch_size, args.repeats)
        print(f"| {size}x{size} | {r['first_compiled_s']:.1f} | {r['eager_samples_s']:.0f} "
              f"| {r['compiled_samples_s']:.0f} "
              f"| {r['compiled_samples_s'] / r['eager_samples_s']:.2f}x "
              f"| {r['break_even_cycles']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
