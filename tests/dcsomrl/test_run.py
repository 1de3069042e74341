"""The one trial runner's own pieces (dcsomrl/run.py), the device parser and the configs built from the registry."""
import numpy as np
import pytest
import torch

from dcsomrl import params as P
from dcsomrl.data import DataError
from dcsomrl.devices import parse_device, resolve_device
from dcsomrl.run import RUN_FILES, batches, check_seed, run_directory, validation_indices
from dcsomrl.somrl import SOMRLConfig
from dcsomrl.trainer import DCSOMRLConfig


# ----------------------------------------------------------------------------- validation_indices

def test_validation_indices_per_class_seeded():
    y = torch.arange(1000) % 7
    idx = validation_indices(y, per_class=10, seed=3)
    assert idx.dtype == torch.int64 and len(idx) == 70
    assert y[idx].bincount().tolist() == [10] * 7
    assert torch.equal(idx, idx.unique())  # distinct, ascending
    assert torch.equal(idx, validation_indices(y.numpy(), per_class=10, seed=3))  # same seed, numpy input
    assert not torch.equal(idx, validation_indices(y, per_class=10, seed=4))


def test_validation_indices_small_class_gives_all_of_it():
    y = np.array([0] * 50 + [1] * 3 + [5] * 20)
    idx = validation_indices(y, per_class=10)
    assert np.bincount(y[idx.numpy()]).tolist() == [10, 3, 0, 0, 0, 10]
    assert set(np.flatnonzero(y == 1)) <= set(idx.tolist())


@pytest.mark.parametrize("per_class", [0, -1, 2.5])
def test_validation_indices_bad_per_class(per_class):
    with pytest.raises(DataError):
        validation_indices(torch.zeros(5, dtype=torch.long), per_class=per_class)


# ----------------------------------------------------------------------------- the trial's checks and directory

@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_a_seed_is_an_integer_at_least_0(seed):
    with pytest.raises(P.ParameterError, match=rf"seed={seed!r} must be an integer >= 0"):
        check_seed(seed)
    assert check_seed(np.int64(7)) == 7 and type(check_seed(np.int64(7))) is int


def test_a_run_directory_loses_every_file_of_an_earlier_run_and_keeps_the_rest(tmp_path):
    for name in (*RUN_FILES, "notes.txt"):
        (tmp_path / name).write_text("old")
    assert run_directory(tmp_path) == tmp_path and run_directory(None) is None
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_batches_cover_each_epoch_once_and_stop_at_the_total():
    gen = torch.Generator().manual_seed(0)
    got = list(batches(10, 4, 7, gen, torch.device("cpu")))
    assert [e for e, _ in got] == [0, 0, 0, 1, 1, 1, 2] and [len(i) for _, i in got] == [4, 4, 2, 4, 4, 2, 4]
    assert sorted(torch.cat([i for e, i in got if e == 0]).tolist()) == list(range(10))
    full = list(batches(10, 4, 4, torch.Generator().manual_seed(0), torch.device("cpu"), drop_last=True))
    assert [e for e, _ in full] == [0, 0, 1, 1] and all(len(i) == 4 for _, i in full)


# ----------------------------------------------------------------------------- devices

@pytest.mark.parametrize("name, parsed", [("cpu", ("cpu", None)), (" CUDA ", ("cuda", None)),
                                          ("cuda:3", ("cuda", 3)), ("Cuda:007", ("cuda", 7))])
def test_device_names(name, parsed):
    assert parse_device(name) == parsed


@pytest.mark.parametrize("name", ["tpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0", "", "mps"])
def test_unknown_device_names_are_refused_in_one_line(name):
    with pytest.raises(ValueError, match=rf"^unknown device {name!r}; use cpu, cuda or cuda:N$"):
        parse_device(name)
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device(name)


def test_the_cpu_resolves_without_a_gpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


# ----------------------------------------------------------------------------- configs from the registry

def test_a_config_takes_its_fields_defaults_and_domains_from_the_registry():
    assert [f for f in vars(SOMRLConfig())] == list(P.SOMRL_PARAMS)
    assert vars(SOMRLConfig()) == {k: P.defaults_for("mnist")[k] for k in P.SOMRL_PARAMS}
    assert vars(DCSOMRLConfig.from_params(P.defaults_for("digits"))) == P.defaults_for("digits")
    cfg = SOMRLConfig(n_max=3.0, lr="0.5")                      # converted to the parameters' types
    assert type(cfg.n_max) is int and cfg.lr == 0.5
    with pytest.raises(P.ParameterError, match=r"^a_t=1.5 is outside its domain: expected a float in \(0, 1\)$"):
        SOMRLConfig(a_t=1.5)
    with pytest.raises(AttributeError):
        cfg.lr = 0.1                                            # frozen
    assert DCSOMRLConfig.from_params(P.defaults_for("mnist")).som == SOMRLConfig()
