"""``fit`` in two gloo processes under torchrun: the single-process fit on the whole batch."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import single_thread
from danogan_sk import DAnoGANDetector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ddp_fit import PARAMS, data, fitted_state  # noqa: E402

HELPER = Path(__file__).resolve().parent / "_ddp_fit.py"
#: The bias of the convolution the classifier's BatchNorm follows: the normalisation
#: removes it, so its gradient is zero up to rounding and its value (with the
#: running mean that tracks it) depends on how the rounding falls. It changes no output.
UNDETERMINED = ("classifier.conv.bias", "classifier.norm.running_mean")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(out: Path, processes: int) -> list[dict]:
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(HELPER), str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in range(processes)]


@pytest.fixture(scope="module")
def single():
    """The fit in this process, with one thread like each torchrun process."""
    with single_thread():
        return fitted_state(DAnoGANDetector(**PARAMS).fit(data()))


def test_two_gloo_processes_fit_what_one_process_fits(tmp_path, single):
    ranks = _torchrun(tmp_path, 2)
    # Every process ends with the same detector, bit for bit.
    for name, tensor in ranks[0]["networks"].items():
        assert torch.equal(tensor, ranks[1]["networks"][name]), name
    np.testing.assert_array_equal(ranks[0]["scores"], ranks[1]["scores"])
    # And it is the single-process fit on the whole batch, up to float rounding:
    # each process sums half the batch, and the sums of the halves are added after.
    for name, tensor in single["networks"].items():
        if not tensor.is_floating_point():
            continue
        if name in UNDETERMINED:
            # Adam moves a parameter whose gradient is rounding noise by about lr a step.
            assert (ranks[0]["networks"][name] - tensor).abs().max() < 0.01, name
        else:
            torch.testing.assert_close(ranks[0]["networks"][name], tensor, rtol=1e-4, atol=1e-5,
                                       msg=name)
    np.testing.assert_allclose(ranks[0]["scores"], single["scores"], rtol=1e-4, atol=1e-5)
    assert set(ranks[0]["history"]) == set(single["history"])
    for name, values in single["history"].items():
        np.testing.assert_allclose(ranks[0]["history"][name], values, rtol=1e-4, atol=1e-5,
                                   err_msg=name)
