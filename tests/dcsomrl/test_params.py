import pytest

from dcsomrl import params as P


@pytest.mark.parametrize("name,value", [
    ("a_t", 0.0), ("a_t", 1.0), ("a_t", 1.5), ("n_max", 0), ("n_max", 2.5), ("lr", -0.1),
    ("beta", -1), ("ld", -0.01), ("rho", -1), ("s", 0), ("s", -1), ("gamma", 0), ("repel", "foo"),
    ("epochs", 0), ("a_t", float("nan")), ("lr", "abc"), ("alpha", True),
])
def test_values_outside_their_domain_are_refused_with_the_name(name, value):
    with pytest.raises(P.ParameterError) as err:
        P.check(name, value)
    msg = str(err.value)
    assert name in msg and "\n" not in msg


def test_the_message_names_the_allowed_range():
    with pytest.raises(P.ParameterError, match=r"a float in \(0, 1\)"):
        P.check("a_t", 1.2)
    with pytest.raises(P.ParameterError, match="an integer >= 1"):
        P.check("n_max", 0)


def test_unknown_names_are_refused():
    with pytest.raises(P.ParameterError, match="unknown parameter 'lrr'"):
        P.check("lrr", 0.1)


def test_values_are_converted_to_their_type():
    assert P.check("n_max", "200") == 200 and isinstance(P.check("n_max", 200.0), int)
    assert P.check("a_t", "0.99") == 0.99
    assert P.check("repel", "paper") == "paper"


def test_parse_set():
    assert P.parse_set(["a_t=0.995", "n_max = 50"]) == {"a_t": 0.995, "n_max": 50}
    with pytest.raises(P.ParameterError, match="name=value"):
        P.parse_set(["a_t"])


@pytest.mark.parametrize("dataset", list(P.DEFAULTS))
def test_every_default_set_is_valid_and_complete(dataset):
    hp = P.defaults_for(dataset)
    assert set(hp) == set(P.PARAMS)
    assert P.validate(hp) == hp


def test_paper_table2_best_values():
    mnist = P.defaults_for("mnist")
    assert (mnist["a_t"], mnist["lr"], mnist["dim"], mnist["n_max"], mnist["batch_size"]) == (0.99425, 0.1426, 22, 200, 256)
    assert P.defaults_for("fashion-mnist")["a_t"] == 0.99885
    assert P.defaults_for("my_file.csv") == P.defaults_for("digits")


@pytest.mark.parametrize("dataset", list(P.DEFAULTS))
def test_radial_is_the_default_repel_and_every_reading_is_a_choice(dataset):
    assert P.defaults_for(dataset)["repel"] == "radial"
    assert P.PARAMS["repel"].choices == ("radial", "symmetric", "paper")
    assert P.parse_set(["repel=radial"]) == {"repel": "radial"}
