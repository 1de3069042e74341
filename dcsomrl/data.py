"""Datasets as tensors (SPEC 5): the embedded digits, MNIST, Fashion-MNIST, or the user's own file.

Every loader returns a :class:`Dataset` of flat ``float32`` rows ``x`` (N, d)
and ``int64`` labels ``y`` (N,), already split into train and test and
normalized as the paper's appendix A does:

==================  ===================================================  ==========================
name                source                                               normalization
==================  ===================================================  ==========================
``digits``          scikit-learn's 8x8 digits (embedded, no download);   ``x / 16``, then standardize
                    stratified 80/20 split, seed 0                       per pixel with training
                                                                         mean/std (std 0 -> 1)
``mnist``           torchvision ``MNIST`` (60,000 / 10,000)              ``(x/255 - 0.1307) / 0.3081``
``fashion-mnist``   torchvision ``FashionMNIST`` (60,000 / 10,000)       ``(x/255 - 0.5) / 0.5``
a ``.npz`` file     arrays ``x``, ``y`` (optional ``x_test``, ``y_test``;  min-max to [0, 1]
                    without them a stratified 80/20 split, seed 0)
a ``.csv`` file     a header row; the label column is the first one       min-max to [0, 1]
                    named ``label``, ``y`` or ``class`` (any case),
                    else the last column
==================  ===================================================  ==========================

Min-max scaling (files, and every dataset with ``scale01=True``, as the
standalone SOMRL wants inputs in [0, 1]) uses the *training* minimum and
maximum, ``x' = (x - min) / (max - min)``, and clips the test set to [0, 1].
Tabular data are scaled per feature (column); images (``image_shape`` set)
with one minimum and maximum over all pixels, so an image stays an image
(for MNIST this is ``x / 255``, for digits ``x / 16``). A constant feature
becomes 0.

MNIST and Fashion-MNIST are read from a data directory (``data_dir``, else
env ``DCSOMRL_DATA``, else ``~/.cache/dcsomrl``) in torchvision's layout,
``<data_dir>/MNIST/raw/`` and ``<data_dir>/FashionMNIST/raw/``:

1. the extracted files there (or in :func:`default_data_dir`) are used as they are;
2. a folder holding only the four ``.gz`` files is extracted, into the same
   folder when it is writable, else into :func:`default_data_dir` (a folder
   without write permission bits is never written to, even by root);
3. otherwise torchvision downloads them (``download=True``); when that fails
   (offline), :class:`DataError` names the files needed and the folder for them.
"""
from __future__ import annotations

import gzip
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dcsomrl.util import one_line

KNOWN = ("digits", "mnist", "fashion-mnist")

# name -> (torchvision class name = folder name, mean, std) of SPEC 5.
_TORCHVISION = {
    "mnist": ("MNIST", 0.1307, 0.3081),
    "fashion-mnist": ("FashionMNIST", 0.5, 0.5),
}
_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_LABEL_NAMES = ("label", "y", "class")  # CSV label column, in order of preference
_DOWNLOAD_TIMEOUT_S = 30.0


class DataError(ValueError):
    """A dataset that cannot be found, read or used. The message is one line."""


@dataclass
class Dataset:
    """A train/test split of flat float32 rows and int64 labels."""

    name: str
    x_train: torch.Tensor = field(repr=False)  # (N, d) float32
    y_train: torch.Tensor = field(repr=False)  # (N,) int64
    x_test: torch.Tensor = field(repr=False)  # (M, d) float32
    y_test: torch.Tensor = field(repr=False)  # (M,) int64
    image_shape: tuple[int, int] | None = None  # (h, w) with h * w = d; None for tabular data


def default_data_dir() -> Path:
    """The data directory when none is given: env ``DCSOMRL_DATA``, else ``~/.cache/dcsomrl``."""
    env = os.environ.get("DCSOMRL_DATA", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dcsomrl"


def load_dataset(name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None, *,
                 download: bool = True, scale01: bool = False) -> Dataset:
    """Load a dataset by name (``digits``, ``mnist``, ``fashion-mnist``) or from a ``.npz``/``.csv`` path.

    ``data_dir`` is where MNIST and Fashion-MNIST live (default :func:`default_data_dir`);
    ``download=False`` forbids downloading them. ``scale01=True`` returns every
    feature min-max scaled to [0, 1] instead of the dataset's normalization.
    """
    name = canonical_name(name_or_path)
    if name == "digits":
        return _load_digits(scale01)
    if name in _TORCHVISION:
        root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        return _load_torchvision(name, root, download=download, scale01=scale01)
    path = Path(name).expanduser()
    x, y, x_test, y_test, image_shape = _read_npz(path) if path.suffix.lower() == ".npz" else _read_csv(path)
    return _from_arrays(name, x, y, x_test, y_test, image_shape)


def canonical_name(name_or_path: str | os.PathLike) -> str:
    """The one spelling of a dataset: ``digits``, ``mnist`` or ``fashion-mnist``
    (any case), or the path of an existing ``.npz``/``.csv`` file, unchanged.

    Cheap (reads nothing); raises DataError for anything else, so commands can
    check a name before they create anything.
    """
    name = os.fspath(name_or_path)
    key = name.strip().lower()
    if key in KNOWN:
        return key
    path = Path(name).expanduser()
    if path.suffix.lower() not in (".npz", ".csv"):
        if path.is_file():
            raise DataError(f"unsupported data file {name!r}: expected a .npz or .csv file")
        raise DataError(f"unknown dataset {name!r}: expected one of {', '.join(KNOWN)} "
                        "or a path to a .npz or .csv file")
    if not path.is_file():
        raise DataError(f"data file not found: {name}")
    return name


def dataset_stem(name_or_path: str | os.PathLike) -> str:
    """A short label for names of runs and studies: the canonical name, or a file's stem."""
    name = canonical_name(name_or_path)
    return name if name in KNOWN else Path(name).stem


# ----------------------------------------------------------------------------- digits

def _load_digits(scale01: bool) -> Dataset:
    """scikit-learn's digits: stratified 80/20 split (seed 0), x/16, standardized with training mean/std."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    bunch = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(bunch.data, bunch.target, test_size=0.2,
                                              stratify=bunch.target, random_state=0)
    if scale01:
        x_tr, x_te = _minmax(_tensor(x_tr), _tensor(x_te), per_feature=False)
    else:
        # StandardScaler leaves a constant pixel (std 0) at scale 1, so it becomes 0.
        scaler = StandardScaler().fit(x_tr / 16.0)
        x_tr, x_te = _tensor(scaler.transform(x_tr / 16.0)), _tensor(scaler.transform(x_te / 16.0))
    return Dataset("digits", x_tr, _labels(y_tr), x_te, _labels(y_te), (8, 8))


# ----------------------------------------------------------------------------- MNIST, Fashion-MNIST

def _load_torchvision(key: str, data_dir: Path, *, download: bool, scale01: bool) -> Dataset:
    """MNIST or Fashion-MNIST through torchvision, read from its ``.data`` tensors (no per-sample transforms)."""
    import torchvision.datasets

    folder, mean, std = _TORCHVISION[key]
    cls = getattr(torchvision.datasets, folder)
    root = _prepare_raw(key, cls, data_dir, download)
    try:
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except Exception as e:  # corrupt or truncated files: torchvision raises assorted errors
        raise DataError(f"cannot read {key} from {root / folder / 'raw'}: {one_line(e)}") from None
    x_tr, x_te = train.data.reshape(len(train.data), -1), test.data.reshape(len(test.data), -1)
    if scale01:
        x_tr, x_te = _minmax(x_tr, x_te, per_feature=False)
    else:
        x_tr, x_te = ((x.float() / 255.0 - mean) / std for x in (x_tr, x_te))
    return Dataset(key, x_tr.contiguous(), train.targets.long(), x_te.contiguous(), test.targets.long(),
                   (28, 28))


def _prepare_raw(key: str, cls, data_dir: Path, download: bool) -> Path:
    """The root whose ``<Folder>/raw/`` holds the four extracted files, extracting or downloading them first."""
    folder = cls.__name__
    roots = list(dict.fromkeys([data_dir, default_data_dir()]))
    for root in roots:
        if _has_files(root / folder / "raw", ""):
            return root
    writable = [r for r in roots if _is_writable(r / folder / "raw")]
    for root in roots:
        if _has_files(root / folder / "raw", ".gz"):
            if not writable:
                raise DataError(f"cannot extract {key}: neither {data_dir} nor {default_data_dir()} "
                                "is writable (set DCSOMRL_DATA to a writable folder)")
            _extract(root / folder / "raw", writable[0] / folder / "raw")
            return writable[0]
    needed = ", ".join(f + ".gz" for f in _RAW_FILES)
    where = f"put {needed} (from {cls.mirrors[0]}) into {data_dir / folder / 'raw'}"
    if not download:
        raise DataError(f"{key} not found in {data_dir / folder / 'raw'} (download disabled); {where}")
    if not writable:
        raise DataError(f"{key} not found and {data_dir} is not writable for a download; {where}")
    try:
        with _socket_timeout(_DOWNLOAD_TIMEOUT_S):
            cls(str(writable[0]), train=True, download=True)
    except Exception as e:  # no network, mirror down, checksum mismatch, ...
        raise DataError(f"{key} not found in {data_dir / folder / 'raw'} and the download failed "
                        f"({one_line(e)}); {where}") from None
    return writable[0]


def _has_files(raw: Path, suffix: str) -> bool:
    return all((raw / (f + suffix)).is_file() for f in _RAW_FILES)


def _is_writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (or, if missing, in its nearest existing parent).

    A folder with no write permission bit counts as read-only even for root,
    who could otherwise write into it.
    """
    p = folder
    while not p.exists() and p != p.parent:
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK) and bool(p.stat().st_mode & 0o222)


def _extract(src: Path, dst: Path) -> None:
    """Gunzip the four raw files from ``src`` into ``dst``; each lands atomically (temp file + rename)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in _RAW_FILES:
        if (dst / f).is_file():
            continue
        fd, tmp = tempfile.mkstemp(dir=dst, prefix=f + ".", suffix=".part")
        try:
            with gzip.open(src / (f + ".gz"), "rb") as fin, os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
            os.replace(tmp, dst / f)
        except (OSError, EOFError) as e:
            Path(tmp).unlink(missing_ok=True)
            raise DataError(f"cannot extract {src / (f + '.gz')}: {one_line(e)}") from None


@contextmanager
def _socket_timeout(seconds: float):
    """Bound each network wait of torchvision's download (urllib has none by default)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


# ----------------------------------------------------------------------------- the user's files

def _read_npz(path: Path):
    """Arrays ``x`` (N, d) or (N, h, w), ``y`` (N,), optional ``x_test``, ``y_test``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as e:  # not a zip, pickled objects, truncated file, ...
        raise DataError(f"cannot read {path}: {one_line(e)}") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks array(s) {', '.join(missing)}; expected x, y "
                        f"(optional x_test, y_test), found {', '.join(sorted(arrays)) or 'none'}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path} has only one of x_test, y_test; give both or neither")
    x, y = arrays["x"], arrays["y"]
    if x.ndim not in (2, 3):
        raise DataError(f"{path}: x must be (N, d) or (N, h, w), got shape {x.shape}")
    image_shape = (int(x.shape[1]), int(x.shape[2])) if x.ndim == 3 else None
    return x, y, arrays.get("x_test"), arrays.get("y_test"), image_shape


def _read_csv(path: Path):
    """A CSV with a header row; label column: the first named label, y or class (any case), else the last."""
    import pandas as pd

    try:
        df = pd.read_csv(path)
        if all(_is_number(c) for c in df.columns):  # the first row is data: there is no header
            df = pd.read_csv(path, header=None)
    except Exception as e:  # empty file, bad quoting, unreadable
        raise DataError(f"cannot read {path}: {one_line(e)}") from None
    if df.shape[1] < 2 or len(df) == 0:
        raise DataError(f"{path} needs a label column and at least one feature column and row")
    names = {str(c).strip().lower(): c for c in reversed(df.columns)}  # first occurrence wins
    label = next((names[n] for n in _LABEL_NAMES if n in names), df.columns[-1])
    features = df.drop(columns=[label])
    bad = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise DataError(f"{path}: non-numeric feature column(s) {', '.join(bad)} "
                        f"(label column: {label})")
    nan_cols = [str(c) for c in features.columns if features[c].isna().any()]
    if nan_cols:
        raise DataError(f"{path}: NaN (empty cells) in column(s) {', '.join(nan_cols)}")
    if df[label].isna().any():
        raise DataError(f"{path}: label column {label} has missing values")
    return features.to_numpy(dtype=np.float64), df[label].to_numpy(), None, None, None


def _is_number(s) -> bool:
    try:
        float(s)
        return True
    except (TypeError, ValueError):
        return False


def _from_arrays(name: str, x, y, x_test, y_test, image_shape) -> Dataset:
    """Check the arrays, split 80/20 (stratified, seed 0) when there is no test set, min-max to [0, 1]."""
    from sklearn.model_selection import train_test_split

    x = _features(name, "x", x)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{name}: x has {len(x)} rows but y has shape {y.shape}; expected ({len(x)},)")
    if x_test is None:
        if len(x) < 2:
            raise DataError(f"{name}: needs at least 2 samples to split into train and test")
        try:
            x, x_test, y, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
        except ValueError:  # a class too small to stratify: a plain seeded split
            x, x_test, y, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    else:
        x_test, y_test = _features(name, "x_test", x_test), np.asarray(y_test)
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"{name}: x_test rows have shape {x_test.shape[1:]}, x rows {x.shape[1:]}")
        if y_test.ndim != 1 or len(y_test) != len(x_test):
            raise DataError(f"{name}: x_test has {len(x_test)} rows but y_test has shape {y_test.shape}")
    y, y_test = _encode_labels(name, y, y_test)
    x_tr, x_te = _minmax(torch.as_tensor(x.reshape(len(x), -1)), torch.as_tensor(x_test.reshape(len(x_test), -1)),
                         per_feature=image_shape is None)
    return Dataset(name, x_tr, y, x_te, y_test, image_shape)


def _features(name: str, key: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise DataError(f"{name}: {key} is not numeric (dtype {a.dtype})")
    a = a.astype(np.float64)
    if len(a) == 0:
        raise DataError(f"{name}: {key} is empty")
    if not np.isfinite(a).all():
        raise DataError(f"{name}: {key} contains NaN or infinite values")
    return a


def _encode_labels(name: str, y: np.ndarray, y_test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer labels stay as they are; any other labels become 0..K-1 in their sorted order."""
    both = np.concatenate([y, y_test])
    if both.dtype.kind in "biu":
        return _labels(y), _labels(y_test)
    if both.dtype.kind == "f":
        if not np.isfinite(both).all():
            raise DataError(f"{name}: labels contain NaN or infinite values")
        if (both == np.round(both)).all():
            return _labels(y), _labels(y_test)
    _, codes = np.unique(both.astype(str), return_inverse=True)
    return _labels(codes[:len(y)]), _labels(codes[len(y):])


# ----------------------------------------------------------------------------- small helpers

def _minmax(x_train: torch.Tensor, x_test: torch.Tensor, *, per_feature: bool):
    """``(x - min) / (max - min)`` with the training min/max (per column or over all values); test clipped."""
    if not x_train.is_floating_point():  # e.g. uint8 pixels
        x_train, x_test = x_train.float(), x_test.float()
    if per_feature:
        lo, hi = x_train.min(dim=0).values, x_train.max(dim=0).values
    else:
        lo, hi = x_train.min(), x_train.max()
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))  # a constant feature maps to 0
    return ((x_train - lo) / span).float(), ((x_test - lo) / span).clamp_(0.0, 1.0).float()


def _tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32))


def _labels(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a).astype(np.int64))
