"""dcsomrl.data: the datasets of SPEC 5 and the validation set of SPEC 4."""
from __future__ import annotations

import gzip
import socket
import stat
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from dcsomrl.data import DataError, Dataset, default_data_dir, load_dataset

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _snapshot(folder: Path) -> dict:
    """Every entry under ``folder`` with its size, mtime and mode: any write shows up as a difference."""
    out = {}
    for p in [folder, *folder.rglob("*")]:
        st = p.stat()
        out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


# ----------------------------------------------------------------------------- default_data_dir

def test_default_data_dir_env_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("DCSOMRL_DATA", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("DCSOMRL_DATA")
    assert default_data_dir() == Path.home() / ".cache" / "dcsomrl"


# ----------------------------------------------------------------------------- digits

def _digits_split():
    b = load_digits()
    return train_test_split(b.data, b.target, test_size=0.2, stratify=b.target, random_state=0)


def test_digits_shapes_and_split():
    d = load_dataset("digits")
    assert isinstance(d, Dataset) and d.name == "digits" and d.image_shape == (8, 8)
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.y_train.shape == (1437,) and d.y_test.shape == (360,)
    # stratified: each class's test share is 20% of its size (to one sample)
    total = np.bincount(load_digits().target)
    test = np.bincount(d.y_test.numpy(), minlength=10)
    assert np.all(np.abs(test - 0.2 * total) <= 1)
    assert np.array_equal(test + np.bincount(d.y_train.numpy(), minlength=10), total)
    # fixed split: the same every time
    again = load_dataset("digits")
    assert torch.equal(d.x_train, again.x_train) and torch.equal(d.y_test, again.y_test)


def test_digits_standardized_with_training_statistics():
    d = load_dataset("digits")
    x_tr, x_te, y_tr, y_te = _digits_split()
    mu, sd = (x_tr / 16).mean(0), (x_tr / 16).std(0)
    assert (sd == 0).any()  # digits has constant pixels: the guard matters
    sd = np.where(sd == 0, 1.0, sd)
    np.testing.assert_allclose(d.x_train.numpy(), (x_tr / 16 - mu) / sd, atol=1e-5)
    np.testing.assert_allclose(d.x_test.numpy(), (x_te / 16 - mu) / sd, atol=1e-5)
    assert np.array_equal(d.y_train.numpy(), y_tr) and np.array_equal(d.y_test.numpy(), y_te)
    assert torch.isfinite(d.x_train).all()
    std = d.x_train.std(0, unbiased=False)
    assert torch.allclose(d.x_train.mean(0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(std[std > 0], torch.ones(int((std > 0).sum())), atol=1e-4)


def test_digits_scale01_is_x_over_16():
    d = load_dataset("digits", scale01=True)
    x_tr, x_te, _, _ = _digits_split()
    np.testing.assert_allclose(d.x_train.numpy(), x_tr / 16, atol=1e-6)
    np.testing.assert_allclose(d.x_test.numpy(), x_te / 16, atol=1e-6)
    assert d.x_train.min() == 0 and d.x_train.max() == 1


# ----------------------------------------------------------------------------- MNIST, Fashion-MNIST from the shared folder

@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """DCSOMRL_DATA pointed at a temporary cache for the whole module."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DCSOMRL_DATA", str(cache))
        yield cache


@pytest.fixture(scope="module")
def mnist(shared_data, cache_dir):
    before = _snapshot(shared_data)
    d = load_dataset("mnist", shared_data)
    return d, before


def test_mnist_shapes_counts_and_normalization(mnist):
    d, _ = mnist
    assert d.name == "mnist" and d.image_shape == (28, 28)
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.x_train.dtype == torch.float32 and d.y_test.dtype == torch.int64
    assert d.y_test.bincount().tolist() == MNIST_TEST_COUNTS
    assert d.y_train.shape == (60000,) and d.y_train.bincount().sum() == 60000
    # (x/255 - 0.1307) / 0.3081: the training set has mean ~0 and std ~1; black pixels sit at -0.4242
    assert abs(d.x_train.mean().item()) < 0.01 and abs(d.x_train.std().item() - 1) < 0.01
    assert d.x_train.min().item() == pytest.approx(-0.1307 / 0.3081, abs=1e-6)
    assert d.x_train.max().item() == pytest.approx((1 - 0.1307) / 0.3081, abs=1e-5)


def test_mnist_read_only_source_untouched_and_cache_used(mnist, shared_data, cache_dir):
    _, before = mnist
    assert _snapshot(shared_data) == before
    assert all((cache_dir / "MNIST" / "raw" / f).is_file() for f in RAW)
    cached = _snapshot(cache_dir)
    again = load_dataset("mnist", shared_data)  # second load reads the cache, extracts nothing
    assert _snapshot(cache_dir) == cached and _snapshot(shared_data) == before
    assert torch.equal(again.y_test, mnist[0].y_test)


def test_mnist_scale01(mnist, shared_data):
    d = load_dataset("mnist", shared_data, scale01=True)
    assert d.x_train.min() == 0 and d.x_train.max() == 1 and d.x_test.max() <= 1
    # global min-max of 0..255 pixels is x / 255: the normalized data map back exactly
    np.testing.assert_allclose(d.x_test.numpy(), mnist[0].x_test.numpy() * 0.3081 + 0.1307, atol=1e-5)


def test_fashion_mnist(shared_data, cache_dir):
    before = _snapshot(shared_data)
    d = load_dataset("fashion-mnist", shared_data)
    assert d.name == "fashion-mnist" and d.image_shape == (28, 28)
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.y_train.bincount().tolist() == [6000] * 10 and d.y_test.bincount().tolist() == [1000] * 10
    # (x/255 - 0.5) / 0.5 spans [-1, 1]; Fashion-MNIST's mean pixel is 0.2860 -> -0.428
    assert d.x_train.min() == -1 and d.x_train.max() == 1
    assert d.x_train.mean().item() == pytest.approx(2 * 0.2860 - 1, abs=0.005)
    assert _snapshot(shared_data) == before
    assert all((cache_dir / "FashionMNIST" / "raw" / f).is_file() for f in RAW)


# ----------------------------------------------------------------------------- the raw-file logic on small fake IDX files

def _write_idx_gz(path: Path, a: np.ndarray) -> None:
    header = bytes([0, 0, 8, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())


def _fake_mnist(root: Path, folder: str = "MNIST") -> dict:
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(20) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (10, 28, 28)),
              "t10k-labels-idx1-ubyte": np.arange(10)[::-1]}
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for name, a in arrays.items():
        _write_idx_gz(raw / (name + ".gz"), a)
    return arrays


def test_gz_only_writable_folder_is_extracted_in_place(tmp_path, monkeypatch):
    monkeypatch.setenv("DCSOMRL_DATA", str(tmp_path / "cache"))
    arrays = _fake_mnist(tmp_path / "data")
    d = load_dataset("mnist", tmp_path / "data")
    assert d.x_train.shape == (20, 784) and d.x_test.shape == (10, 784)
    assert d.y_test.tolist() == list(range(10))[::-1]
    expected = (arrays["train-images-idx3-ubyte"].reshape(20, -1) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(d.x_train.numpy(), expected, atol=1e-5)
    assert all((tmp_path / "data" / "MNIST" / "raw" / f).is_file() for f in RAW)
    assert not (tmp_path / "cache").exists()
    assert not list((tmp_path / "data" / "MNIST" / "raw").glob("*.part"))


def test_gz_only_read_only_folder_is_extracted_into_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DCSOMRL_DATA", str(tmp_path / "cache"))
    _fake_mnist(tmp_path / "ro", "FashionMNIST")
    dirs = [tmp_path / "ro", tmp_path / "ro" / "FashionMNIST", tmp_path / "ro" / "FashionMNIST" / "raw"]
    ro = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for p in dirs:
        p.chmod(ro)
    try:
        before = _snapshot(tmp_path / "ro")
        d = load_dataset("fashion-mnist", tmp_path / "ro", scale01=True)
        assert _snapshot(tmp_path / "ro") == before
    finally:
        for p in dirs:
            p.chmod(0o755)
    assert d.x_train.shape == (20, 784) and 0 <= d.x_test.min() and d.x_test.max() <= 1
    assert all((tmp_path / "cache" / "FashionMNIST" / "raw" / f).is_file() for f in RAW)


def test_corrupt_gz_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DCSOMRL_DATA", str(tmp_path / "cache"))
    _fake_mnist(tmp_path / "data")
    (tmp_path / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path / "data")
    assert "t10k-images-idx3-ubyte.gz" in _one_line(err)


# ----------------------------------------------------------------------------- offline

@pytest.fixture
def unreachable(monkeypatch):
    """Point every torchvision mirror at a closed local port: downloads fail at once, no external call."""
    import torchvision.datasets as tvd

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    monkeypatch.setattr(tvd.MNIST, "mirrors", [url])
    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", [url])
    return url


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_offline_missing_data_names_files_and_folder(tmp_path, monkeypatch, unreachable, name, folder):
    monkeypatch.setenv("DCSOMRL_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        load_dataset(name, tmp_path / "empty")
    msg = _one_line(err)
    assert "download failed" in msg and str(tmp_path / "empty" / folder / "raw") in msg
    assert all(f + ".gz" in msg for f in RAW)


def test_download_disabled(tmp_path, monkeypatch, unreachable):
    monkeypatch.setenv("DCSOMRL_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path / "empty", download=False)
    msg = _one_line(err)
    assert "download disabled" in msg and "train-images-idx3-ubyte.gz" in msg
    assert not (tmp_path / "empty").exists()


# ----------------------------------------------------------------------------- the user's files

def test_npz_without_test_arrays_split_and_minmax(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 3)) * [1, 100, 0] + [0, 50, 7]  # third feature constant
    y = np.repeat([0, 1, 2, 3], 25)
    np.savez(tmp_path / "a.npz", x=x, y=y)
    d = load_dataset(str(tmp_path / "a.npz"))
    assert d.image_shape is None and d.x_train.shape == (80, 3) and d.x_test.shape == (20, 3)
    assert d.y_test.bincount().tolist() == [5, 5, 5, 5]  # stratified
    assert d.x_train[:, :2].min(0).values.tolist() == [0, 0] and d.x_train[:, :2].max(0).values.tolist() == [1, 1]
    assert (d.x_train[:, 2] == 0).all() and (d.x_test[:, 2] == 0).all()
    assert d.x_test.min() >= 0 and d.x_test.max() <= 1
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    same = load_dataset(tmp_path / "a.npz", scale01=True)  # a Path works too; scale01 is the default here
    assert torch.equal(same.x_test, d.x_test) and torch.equal(same.y_train, d.y_train)


def test_npz_with_test_arrays_clips_test_to_training_range(tmp_path):
    x = np.array([[0.0, 10], [2, 20], [4, 30]])
    x_test = np.array([[-2.0, 15], [1, 40]])
    np.savez(tmp_path / "b.npz", x=x, y=np.array([3, 7, 3]), x_test=x_test, y_test=np.array([7, 3]))
    d = load_dataset(tmp_path / "b.npz")
    np.testing.assert_allclose(d.x_train.numpy(), [[0, 0], [0.5, 0.5], [1, 1]])
    np.testing.assert_allclose(d.x_test.numpy(), [[0, 0.25], [0.25, 1]])
    assert d.y_train.tolist() == [3, 7, 3] and d.y_test.tolist() == [7, 3]  # integer labels kept


def test_npz_images_scaled_globally_and_string_labels(tmp_path):
    x = np.zeros((10, 2, 3))
    x[:, 0, 0] = 5  # one pixel constant at 5; the others span 0..10
    x[:, 1, 2] = np.arange(10) + 1
    y = np.array(["cat", "dog"] * 5)
    np.savez(tmp_path / "img.npz", x=x, y=y, x_test=x[:2], y_test=np.array(["dog", "ant"]))
    d = load_dataset(tmp_path / "img.npz")
    assert d.image_shape == (2, 3) and d.x_train.shape == (10, 6)
    assert torch.allclose(d.x_train[:, 0], torch.full((10,), 0.5))  # one min/max over all pixels
    assert d.y_train.tolist() == [1, 2] * 5 and d.y_test.tolist() == [2, 0]  # ant, cat, dog -> 0, 1, 2


def test_csv_label_column_by_name(tmp_path):
    rows = "\n".join(f"{i},{i % 3},{10 - i}" for i in range(30))
    (tmp_path / "c.csv").write_text("f1,Class,f2\n" + rows + "\n")
    d = load_dataset(tmp_path / "c.csv")
    assert d.x_train.shape == (24, 2) and d.x_test.shape == (6, 2) and d.image_shape is None
    assert d.y_test.bincount().tolist() == [2, 2, 2]
    # the features are f1 and f2, min-max scaled: f1 + f2 = 10 stays a line, f1' + f2' = 1 after scaling
    x = torch.cat([d.x_train, d.x_test])
    assert torch.allclose(x.sum(1), torch.ones(30), atol=1e-6)


def test_csv_label_is_last_column_and_headerless(tmp_path):
    (tmp_path / "h.csv").write_text("a,b,kind\n" + "\n".join(f"{i},{2 * i},{'xy'[i % 2]}" for i in range(20)))
    d = load_dataset(tmp_path / "h.csv")
    assert d.x_train.shape[1] == 2 and sorted(set(d.y_train.tolist())) == [0, 1]
    (tmp_path / "n.csv").write_text("\n".join(f"{i},{i * 0.5},{i % 2}" for i in range(20)))
    d = load_dataset(tmp_path / "n.csv")  # first row numeric: no header, nothing lost
    assert d.x_train.shape == (16, 2) and len(d.y_train) + len(d.y_test) == 20


# ----------------------------------------------------------------------------- errors

def _text(name: str, text: str):
    def make(p: Path) -> str:
        (p / name).write_text(text)
        return str(p / name)
    return make


def _npz(**arrays):
    def make(p: Path) -> str:
        np.savez(p / "e.npz", **arrays)
        return str(p / "e.npz")
    return make


@pytest.mark.parametrize("make,needle", [
    (lambda p: "nonsense", "unknown dataset 'nonsense'"),
    (lambda p: str(p / "missing.npz"), "not found"),
    (lambda p: str(p / "missing.csv"), "not found"),
    (_text("t.txt", "1,2"), "unsupported"),
    (_npz(x=np.ones((3, 2))), "lacks array(s) y"),
    (_npz(x=np.ones((3, 2)), y=np.ones(4)), "3 rows"),
    (_npz(x=np.ones((3, 2)), y=np.ones(3), x_test=np.ones((1, 2))), "only one of x_test, y_test"),
    (_npz(x=np.ones((3, 2)), y=np.ones(3), x_test=np.ones((2, 2)), y_test=np.ones(1)), "y_test has shape"),
    (_npz(x=np.ones((3, 2)), y=np.ones(3), x_test=np.ones((2, 5)), y_test=np.ones(2)), "x_test rows"),
    (_npz(x=np.array([[1.0, np.nan]] * 3), y=np.ones(3)), "NaN"),
    (_npz(x=np.array([["a", "b"]] * 3), y=np.ones(3)), "not numeric"),
    (_npz(x=np.ones(3), y=np.ones(3)), "(N, d)"),
    (_text("e.npz", "garbage"), "cannot read"),
    (_text("e.csv", "a,b,label\n1,x,0\n2,y,1\n"), "non-numeric feature column(s) b"),
    (_text("e.csv", "a,b,label\n1,,0\n2,3,1\n"), "NaN"),
    (_text("e.csv", "a,b,label\n1,2,\n2,3,1\n"), "label column label has missing values"),
    (_text("e.csv", ""), "cannot read"),
])
def test_errors_are_one_line_data_errors(tmp_path, make, needle):
    with pytest.raises(DataError) as err:
        load_dataset(make(tmp_path))
    assert needle in _one_line(err)
    assert isinstance(err.value, ValueError)


def test_unknown_name_lists_known_ones():
    with pytest.raises(DataError) as err:
        load_dataset("cifar")
    assert all(n in _one_line(err) for n in ("digits", "mnist", "fashion-mnist"))
