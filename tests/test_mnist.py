"""Tests of the MNIST / Fashion-MNIST loaders and their download path."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from danogan_sk.datasets import mnist
from danogan_sk.datasets.mnist import (
    DownloadError,
    get_data_home,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TEST_STEMS = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ------------------------------------------------------------------ helpers


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX (magic derived from its number of dims)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim if magic is None else magic
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def synthetic(n: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def write_subset(folder: Path, images, labels, subset="test", gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    stems = mnist._FILES[subset]
    for stem, array in zip(stems, (images, labels)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)


def files_in(folder: Path):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -------------------------------------------------------- real data (shared)


@pytest.fixture(scope="module")
def mnist_train(shared_data_home):
    return load_mnist("train", data_home=shared_data_home, download=False)


@pytest.fixture(scope="module")
def mnist_test(shared_data_home):
    return load_mnist("test", data_home=shared_data_home, download=False)


@pytest.fixture(scope="module")
def fashion_train(shared_data_home):
    return load_fashion_mnist("train", data_home=shared_data_home, download=False)


@pytest.fixture(scope="module")
def fashion_test(shared_data_home):
    return load_fashion_mnist("test", data_home=shared_data_home, download=False)


@pytest.mark.parametrize(
    "fixture, n, counts, mean",
    [
        ("mnist_train", 60000, MNIST_TRAIN_COUNTS, 33.318),
        ("mnist_test", 10000, MNIST_TEST_COUNTS, 33.791),
        ("fashion_train", 60000, [6000] * 10, 72.940),
        ("fashion_test", 10000, [1000] * 10, 73.147),
    ],
)
def test_real_data_matches_published_facts(request, fixture, n, counts, mean):
    X, y = request.getfixturevalue(fixture)
    assert X.shape == (n, 28, 28) and X.dtype == np.uint8
    assert y.shape == (n,) and y.dtype == np.int64
    assert X.flags.writeable and X.flags.c_contiguous
    assert np.bincount(y, minlength=10).tolist() == counts
    assert X.mean() == pytest.approx(mean, abs=5e-4)


def test_subset_all_is_train_then_test(shared_data_home, mnist_train, mnist_test):
    X, y = load_mnist("all", data_home=shared_data_home, download=False)
    assert X.shape == (70000, 28, 28)
    np.testing.assert_array_equal(X[:60000], mnist_train[0])
    np.testing.assert_array_equal(X[60000:], mnist_test[0])
    np.testing.assert_array_equal(y, np.concatenate([mnist_train[1], mnist_test[1]]))


def test_first_mnist_test_labels(mnist_test):
    # The well-known first digits of the MNIST test set.
    assert mnist_test[1][:5].tolist() == [7, 2, 1, 0, 4]


def test_data_home_from_environment(shared_data_home, monkeypatch, mnist_test):
    monkeypatch.setenv("DANOGAN_DATA_HOME", str(shared_data_home))
    X, y = load_dataset("mnist", "test", download=False)
    np.testing.assert_array_equal(y, mnist_test[1])


# ----------------------------------------------------------------- data home


def test_get_data_home_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("DANOGAN_DATA_HOME", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("DANOGAN_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == tmp_path / "danogan_sk_data"
    assert get_data_home("~/x") == tmp_path / "x"
    assert not (tmp_path / "danogan_sk_data").exists()  # resolving creates nothing


# ------------------------------------------------------ local files, corrupt


@pytest.fixture
def local_home(tmp_path, monkeypatch):
    """A data home with a small valid MNIST test subset (checksums patched)."""
    images, labels = synthetic()
    write_subset(tmp_path / "mnist", images, labels)
    patch_checksums(monkeypatch, images, labels)
    return tmp_path, images, labels


def patch_checksums(monkeypatch, images, labels, subset="test"):
    sums = dict(mnist.CHECKSUMS["mnist"])
    for stem, array in zip(mnist._FILES[subset], (images, labels)):
        sums[stem] = hashlib.md5(idx_bytes(array)).hexdigest()
    monkeypatch.setitem(mnist.CHECKSUMS, "mnist", sums)


def test_local_synthetic_loads(local_home):
    home, images, labels = local_home
    X, y = load_mnist("test", data_home=home, download=False)
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


def test_uncompressed_files_are_read(tmp_path, monkeypatch):
    images, labels = synthetic(3)
    write_subset(tmp_path / "mnist", images, labels, gz=False)
    patch_checksums(monkeypatch, images, labels)
    X, y = load_mnist("test", data_home=tmp_path, download=False)
    np.testing.assert_array_equal(X, images)


def test_read_idx_roundtrip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)


def _rewrite(path: Path, data: bytes, gz: bool = True):
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "gzip"),  # truncated .gz
        (lambda p: p.write_bytes(b"not gzip at all"), "gzip"),
        (lambda p: _rewrite(p, idx_bytes(np.zeros((5, 28, 28)), magic=0x0801)), "magic"),
        (lambda p: _rewrite(p, idx_bytes(np.zeros((5, 28, 28)))[:-1]), "payload"),
        (lambda p: _rewrite(p, idx_bytes(np.zeros((5, 28, 28))) + b"x"), "payload"),
        (lambda p: _rewrite(p, b"\x00\x00\x08\x03\x00\x00"), "header"),
        (lambda p: _rewrite(p, b"\x00"), "short"),
    ],
    ids=["truncated-gz", "not-gzip", "bad-magic", "short-payload", "long-payload",
         "short-header", "tiny"],
)
def test_corrupt_local_file_raises_naming_it(local_home, corrupt, match):
    home, _, _ = local_home
    path = home / "mnist" / "t10k-images-idx3-ubyte.gz"
    corrupt(path)
    with pytest.raises(ValueError, match=match) as info:
        load_mnist("test", data_home=home, download=False, verify=False)
    assert str(path) in str(info.value)


def test_image_label_count_mismatch(tmp_path, monkeypatch):
    images, labels = synthetic(5)
    write_subset(tmp_path / "mnist", images, labels[:4])
    with pytest.raises(ValueError, match="5 images.*4 labels"):
        load_mnist("test", data_home=tmp_path, download=False, verify=False)


def test_local_checksum_mismatch(local_home):
    home, images, labels = local_home
    write_subset(home / "mnist", images[::-1], labels)
    with pytest.raises(ValueError, match="md5.*verify=False") as info:
        load_mnist("test", data_home=home, download=False)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)
    X, _ = load_mnist("test", data_home=home, download=False, verify=False)
    np.testing.assert_array_equal(X, images[::-1])


def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("test", data_home=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte") in message
    assert "download=True" in message and "DANOGAN_DATA_HOME" in message
    assert files_in(tmp_path) == []  # nothing created


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown subset"):
        load_mnist("validation")


# ------------------------------------------------------------- download path


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (body, mode)``; anything else is a 404."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        body, mode = route
        self.send_response(200)
        # "drop": announce more bytes than are sent, then close the connection.
        extra = 1000 if mode == "drop" else 0
        self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "drop" else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.hits = {}, []
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def serve_subset(server, prefix, images, labels, modes=("ok", "ok")):
    for stem, array, mode in zip(TEST_STEMS, (images, labels), modes):
        server.routes[f"{prefix}{stem}.gz"] = (gzip.compress(idx_bytes(array)), mode)


@pytest.fixture
def fake(monkeypatch):
    images, labels = synthetic(7, seed=1)
    patch_checksums(monkeypatch, images, labels)
    return images, labels


def test_download_success_then_cache(server, fake, tmp_path):
    images, labels = fake
    serve_subset(server, "/m1/", images, labels)
    X, y = load_mnist("test", data_home=tmp_path, mirrors=[server.url + "/m1/"])
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)
    assert files_in(tmp_path / "mnist") == sorted(f"{s}.gz" for s in TEST_STEMS)
    assert len(server.hits) == 2
    # Second load reads the cache: no new request, works offline.
    X2, _ = load_mnist("test", data_home=tmp_path, download=False)
    np.testing.assert_array_equal(X2, images)
    load_mnist("test", data_home=tmp_path, mirrors=[server.url + "/m1/"])
    assert len(server.hits) == 2


def test_download_only_missing_file(server, fake, tmp_path):
    images, labels = fake
    write_subset(tmp_path / "mnist", images, labels)
    (tmp_path / "mnist" / f"{TEST_STEMS[0]}.gz").unlink()
    serve_subset(server, "/m/", images, labels)
    load_mnist("test", data_home=tmp_path, mirrors=server.url + "/m")  # str, no slash
    assert server.hits == [f"/m/{TEST_STEMS[0]}.gz"]


def assert_failed_cleanly(info, tmp_path, *needles):
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    for needle in needles:
        assert needle in message
    # No final file and no leftover temporary file.
    assert files_in(tmp_path / "mnist") == []


def test_download_404(server, fake, tmp_path):
    with pytest.raises(DownloadError) as info:
        load_mnist("test", data_home=tmp_path, mirrors=[server.url + "/none/"])
    assert isinstance(info.value, OSError)
    assert_failed_cleanly(info, tmp_path, "404", server.url + "/none/")


def test_download_checksum_mismatch(server, fake, tmp_path):
    images, labels = fake
    serve_subset(server, "/m1/", images[::-1], labels)
    with pytest.raises(DownloadError) as info:
        load_mnist("test", data_home=tmp_path, mirrors=[server.url + "/m1/"])
    assert_failed_cleanly(info, tmp_path, "md5")


def test_download_not_gzip(server, fake, tmp_path):
    server.routes[f"/m1/{TEST_STEMS[0]}.gz"] = (b"<html>oops</html>", "ok")
    with pytest.raises(DownloadError) as info:
        load_mnist("test", data_home=tmp_path, mirrors=[server.url + "/m1/"])
    assert_failed_cleanly(info, tmp_path, "gzip")


def test_download_connection_dropped(server, fake, tmp_path):
    images, labels = fake
    serve_subset(server, "/m1/", images, labels, modes=("drop", "ok"))
    with pytest.raises(DownloadError) as info:
        load_mnist("test", data_home=tmp_path, mirrors=[server.url + "/m1/"])
    assert_failed_cleanly(info, tmp_path, "connection closed after")


def test_download_falls_back_to_next_mirror(server, fake, tmp_path):
    images, labels = fake
    serve_subset(server, "/bad/", images, labels, modes=("drop", "drop"))
    serve_subset(server, "/good/", images, labels)
    mirrors = ["http://127.0.0.1:1/", server.url + "/none/", server.url + "/bad/",
               server.url + "/good/"]
    X, y = load_mnist("test", data_home=tmp_path, mirrors=mirrors)
    np.testing.assert_array_equal(X, images)
    assert f"/good/{TEST_STEMS[1]}.gz" in server.hits
    assert files_in(tmp_path / "mnist") == sorted(f"{s}.gz" for s in TEST_STEMS)


def test_download_all_mirrors_fail_names_each(server, fake, tmp_path):
    mirrors = ["http://127.0.0.1:1/", server.url + "/none/"]
    with pytest.raises(DownloadError) as info:
        load_mnist("test", data_home=tmp_path, mirrors=mirrors)
    assert_failed_cleanly(info, tmp_path, *mirrors)


def test_download_real_files_with_real_checksums(server, shared_data_home, tmp_path, mnist_test):
    for stem in TEST_STEMS:
        body = (shared_data_home / "mnist" / f"{stem}.gz").read_bytes()
        server.routes[f"/real/{stem}.gz"] = (body, "ok")
    X, y = load_mnist("test", data_home=tmp_path, mirrors=[server.url + "/real/"])
    np.testing.assert_array_equal(X, mnist_test[0])
    np.testing.assert_array_equal(y, mnist_test[1])
