"""Parameter spaces: which parameters a study varies, over which ranges, on which scale.

A space is data, a TOML file (``studies/spaces/*.toml``)::

    description = "what this space is and where it comes from"

    [params.a_t]                      # a parameter of the space's model (dcsomrl.params.registry)
    type = "float"                    # float | int | categorical (the parameter's own type)
    low = 0.95
    high = 0.999
    scale = "log1m"                   # linear | log | log1m

    [params.repel]
    type = "categorical"
    choices = ["radial", "symmetric", "paper"]

    [params.batch_size]
    type = "int"
    value = 256                       # a fixed value: the same in every design point

Scales (how the unit interval u in [0, 1) of a Latin Hypercube maps onto [low, high],
see :func:`studies.design.map_unit`):

- ``linear``: x = low + u (high - low)
- ``log``:    log x uniform, x = low (high / low)^u              (needs low > 0)
- ``log1m``:  log(1 - x) uniform, x = 1 - (1 - low) ((1 - high) / (1 - low))^u
  (needs high < 1; for thresholds near 1 such as a_t, where 0.99 -> 0.999 is as
  big a step as 0.9 -> 0.99)

Every bound, choice and fixed value is checked against the parameter's domain
with :func:`dcsomrl.params.check`; every problem raises :class:`SpaceError`
with a one-line message naming the file, the parameter and the problem.

A space belongs to one model (``model = "desom"`` at the top of the file; no
key means ``dcsomrl``), whose parameter registry (:func:`dcsomrl.params.registry`)
names its parameters and their domains. Shipped spaces are found by name for a
dataset and a model (:func:`resolve_space`): ``<dataset>-<name>.toml`` first,
then ``<name>.toml``, in ``studies/spaces/`` for dcsomrl (and somrl, which shares
its parameters) and in ``studies/spaces/<model>/`` for any other model.

The space's Optuna distributions, recorded with each trial's parameters, come
from here too (:meth:`Dimension.distribution`, :meth:`Space.distributions`,
:func:`suggest`): int and float ranges as Int/FloatDistribution (``log`` scale
as ``log=True``; ``log1m`` is recorded as a linear float), choices as a
CategoricalDistribution, a fixed value as a one-point range (one choice for a
categorical). Optuna is imported only when they are asked for.
"""
from __future__ import annotations

import math
import pathlib
import tomllib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dcsomrl import models
from dcsomrl.params import ParameterError, check, registry
from dcsomrl.util import one_line
from studies.errors import SpaceError

if TYPE_CHECKING:
    import optuna

SPACES_DIR = pathlib.Path(__file__).parent / "spaces"
TYPES = ("float", "int", "categorical")
SCALES = ("linear", "log", "log1m")
# Scales that make sense per type (log1m maps onto (.., 1): floats only).
_SCALES_FOR = {"float": SCALES, "int": ("linear", "log"), "categorical": ("linear",)}
_KEYS = {"type", "low", "high", "scale", "value", "choices"}


@dataclass(frozen=True)
class Dimension:
    """One parameter of a space: a range on a scale, a list of choices, or a fixed value."""

    name: str
    type: str  # "float", "int" or "categorical"
    low: float | int | None = None
    high: float | int | None = None
    scale: str = "linear"
    choices: tuple[Any, ...] = ()
    value: Any = None
    fixed: bool = False  # True: `value` is used in every design point

    @property
    def varies(self) -> bool:
        """True when design points differ in this parameter (a range, or two or more choices)."""
        return not self.fixed and not (self.type == "categorical" and len(self.choices) < 2)

    def to_dict(self) -> dict[str, Any]:
        """The TOML table of this parameter."""
        if self.fixed:
            return {"type": self.type, "value": self.value}
        if self.type == "categorical":
            return {"type": self.type, "choices": list(self.choices)}
        return {"type": self.type, "low": self.low, "high": self.high, "scale": self.scale}

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution recorded for this parameter (see the module docstring)."""
        from optuna import distributions as od

        if self.type == "categorical":
            return od.CategoricalDistribution([self.value] if self.fixed else list(self.choices))
        cls = od.IntDistribution if self.type == "int" else od.FloatDistribution
        if self.fixed:
            return cls(self.value, self.value)
        return cls(self.low, self.high, log=self.scale == "log")


@dataclass(frozen=True)
class Space:
    """An ordered set of dimensions of one model's parameters, with a name and a description."""

    name: str
    dims: dict[str, Dimension] = field(default_factory=dict)
    description: str = ""
    model: str = "dcsomrl"  # the parameter registry the dimensions come from

    @property
    def names(self) -> list[str]:
        return list(self.dims)

    @property
    def varying(self) -> list[str]:
        """Names of the dimensions an LHS design stratifies (in space order)."""
        return [n for n, d in self.dims.items() if d.varies]

    def distribution(self, name: str) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution of parameter ``name`` (:meth:`Dimension.distribution`)."""
        return self.dims[name].distribution()

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Every parameter's Optuna distribution, in space order."""
        return {name: dim.distribution() for name, dim in self.dims.items()}

    def to_dict(self) -> dict[str, Any]:
        """The TOML document of this space (what :func:`parse_space` reads back)."""
        out: dict[str, Any] = {}
        if self.model != "dcsomrl":
            out["model"] = self.model
        if self.description:
            out["description"] = self.description
        out["params"] = {name: dim.to_dict() for name, dim in self.dims.items()}
        return out

    def with_fixed(self, **values: Any) -> "Space":
        """A copy with the given parameters fixed (added at the end when absent)."""
        dims = dict(self.dims)
        for name, value in values.items():
            dims[name] = _parse_dim(name, {"value": value}, self.name, self.model)
        return replace(self, dims=dims)


def suggest(trial: optuna.Trial, name: str, dist: optuna.distributions.BaseDistribution) -> Any:
    """Ask ``trial`` for parameter ``name`` over ``dist``: an enqueued value comes back and is
    recorded on the trial with that distribution."""
    from optuna import distributions as od

    if isinstance(dist, od.CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, od.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


# --------------------------------------------------------------------------- reading

def parse_space(data: dict[str, Any], source: str = "<space>", model: str | None = None) -> Space:
    """Validate a space document (the parsed TOML) and build a :class:`Space`.

    ``source`` names the file in error messages; the space's name is its stem.
    ``model``: the model the caller studies; a document naming another model's
    parameters is refused. None: the document's own ``model`` (default dcsomrl).
    """
    unknown = set(data) - {"model", "description", "params"}
    if unknown:
        raise SpaceError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
                         "expected 'model', 'description' and [params.<name>] tables")
    model = _space_model(data.get("model"), model, source)
    params = data.get("params")
    if not isinstance(params, dict) or not params:
        raise SpaceError(f"{source}: no parameters; expected [params.<name>] tables")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SpaceError(f"{source}: 'description' must be a string")
    name = pathlib.Path(source).stem if source != "<space>" else "space"
    dims = {}
    for pname, table in params.items():
        if not isinstance(table, dict):
            raise SpaceError(f"{source}: parameter {pname}: expected a table, got {table!r}")
        dims[pname] = _parse_dim(pname, table, source, model)
    return Space(name, dims, description, model)


def _space_model(declared: Any, wanted: str | None, source: str) -> str:
    """The registry name of a space's model: the file's ``model`` key, which must match ``wanted``."""
    try:
        own = models.get(declared).params if isinstance(declared, str) else None
        asked = models.get(wanted).params if wanted else None
    except ParameterError as err:
        raise SpaceError(f"{source}: {err}") from None
    if declared is not None and own is None:
        raise SpaceError(f"{source}: 'model' must be a model name, got {declared!r}")
    if own and asked and own != asked:
        raise SpaceError(f"{source}: a space of model {declared!r}, not of {wanted!r}; "
                         f"give a space of {wanted!r} (or --model {declared})")
    return own or asked or "dcsomrl"


def load_space(path: str | pathlib.Path, model: str | None = None) -> Space:
    """Read and validate a space file (of ``model`` when given, see :func:`parse_space`)."""
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise SpaceError(f"{path}: no such space file") from None
    except IsADirectoryError:
        raise SpaceError(f"{path}: is a directory, not a space file") from None
    except OSError as err:  # permissions, a broken link, ...
        raise SpaceError(f"{path}: cannot read the space file: {err.strerror or one_line(err)}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SpaceError(f"{path}: not valid TOML: {one_line(err)}") from None
    space = parse_space(data, str(path), model)
    _require_types(data, str(path), space)
    return space


def _require_types(data: dict[str, Any], source: str, space: Space) -> None:
    """A space *file* should name the type of every range and choice list (a fixed ``value`` needs none):
    a dimension without ``type`` is read as the registry's type, and a one-line notice on stderr says so."""
    import sys

    untyped = [f"{name} as {space.dims[name].type}" for name, table in data["params"].items()
               if "type" not in table and "value" not in table]
    if untyped:
        print(f"dcsomrl-study: notice: {source}: no 'type' given for {', '.join(untyped)} (the parameters' own "
              "types); write type = ... to silence this", file=sys.stderr, flush=True)


def spaces_dir(model: str = "dcsomrl") -> pathlib.Path:
    """Where the shipped spaces of ``model`` live: ``studies/spaces`` for dcsomrl's parameters
    (``Model.params`` of dcsomrl, somrl and the stand-ins), ``studies/spaces/<params>`` otherwise."""
    name = models.get(model).params
    return SPACES_DIR if name == "dcsomrl" else SPACES_DIR / name


def shipped_spaces(model: str = "dcsomrl") -> list[str]:
    """Names of the space files that ship with the package for ``model`` (file stems)."""
    return sorted(p.stem for p in spaces_dir(model).glob("*.toml"))


def is_space_file(name_or_path: str | pathlib.Path) -> bool:
    """True when ``name_or_path`` is a file path (it ends in ``.toml`` or holds a ``/``),
    False when it names a shipped space (``initial``, ``adjusted``, ``best``, ...)."""
    text = str(name_or_path)
    return text.endswith(".toml") or "/" in text


def resolve_space(name_or_path: str | pathlib.Path, dataset: str | None = None,
                  model: str = "dcsomrl") -> Space:
    """A shipped space of ``model`` by name for a dataset, or a space file by path
    (:func:`is_space_file`), which must be a space of ``model``.

    ``initial``, ``adjusted``, ``best`` (or any shipped stem) look for
    ``<dataset>-<name>.toml`` first, then ``<name>.toml``, in :func:`spaces_dir`.
    """
    text = str(name_or_path)
    try:
        folder = spaces_dir(model)
    except ParameterError as err:
        raise SpaceError(str(err)) from None
    if not is_space_file(text):
        for stem in ([f"{dataset}-{text}"] if dataset else []) + [text]:
            candidate = folder / f"{stem}.toml"
            if candidate.exists():
                return replace(load_space(candidate, model), name=stem)
        known = ", ".join(shipped_spaces(model))
        where = f" for dataset {dataset!r}" if dataset else ""
        of = "" if model == "dcsomrl" else f" of model {model!r}"
        raise SpaceError(f"no space {text!r}{of}{where}; shipped: {known}; or give a .toml file")
    return load_space(text, model)


def _parse_dim(name: str, table: dict[str, Any], source: str, model: str = "dcsomrl") -> Dimension:
    where = f"{source}: parameter {name}"
    params = registry(model)
    if name not in params:
        of = "" if model == "dcsomrl" else f" of model {model!r}"
        raise SpaceError(f"{where}: unknown parameter{of}; known: {', '.join(params)}")
    unknown = set(table) - _KEYS
    if unknown:
        raise SpaceError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(_KEYS))}")
    ptype = params[name].type
    given = table.get("type", ptype)
    if given not in TYPES:
        raise SpaceError(f"{where}: unknown type {given!r}; expected one of {', '.join(TYPES)}")
    if given != ptype:
        raise SpaceError(f"{where}: type {given!r} does not match the parameter's type {ptype!r}")

    if "value" in table:
        extra = set(table) & {"low", "high", "scale", "choices"}
        if extra:
            raise SpaceError(f"{where}: a fixed 'value' excludes {', '.join(sorted(extra))}")
        return Dimension(name, ptype, value=_in_domain(name, table["value"], where, "value", model), fixed=True)

    if ptype == "categorical":
        extra = set(table) & {"low", "high"}
        if extra:
            raise SpaceError(f"{where}: a categorical parameter takes 'choices', not {', '.join(sorted(extra))}")
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{where}: expected a non-empty list 'choices' (or a fixed 'value')")
        if len(set(map(str, choices))) != len(choices):
            raise SpaceError(f"{where}: repeated choices in {choices!r}")
        scale = table.get("scale", "linear")
        if scale != "linear":
            raise SpaceError(f"{where}: a categorical parameter has no scale (got {scale!r})")
        return Dimension(name, ptype, choices=tuple(_in_domain(name, c, where, "choice", model) for c in choices))

    if "choices" in table:
        raise SpaceError(f"{where}: 'choices' is only for categorical parameters")
    for key in ("low", "high"):
        if key not in table:
            raise SpaceError(f"{where}: missing '{key}' (or give a fixed 'value')")
    if ptype == "int":
        for key in ("low", "high"):
            bound = table[key]
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or (
                    math.isfinite(bound) and float(bound) != int(bound)):
                raise SpaceError(f"{where}: {key}={bound!r} is not an integer")
    low = _in_domain(name, table["low"], where, "low", model)
    high = _in_domain(name, table["high"], where, "high", model)
    if not low < high:
        raise SpaceError(f"{where}: low={low!r} must be < high={high!r} (or give a fixed 'value')")
    scale = table.get("scale", "linear")
    if scale not in SCALES:
        raise SpaceError(f"{where}: unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    if scale not in _SCALES_FOR[ptype]:
        raise SpaceError(f"{where}: scale {scale!r} is not for {ptype} parameters; "
                         f"use one of {', '.join(_SCALES_FOR[ptype])}")
    if scale == "log" and low <= 0:
        raise SpaceError(f"{where}: scale 'log' needs low > 0 (got low={low!r})")
    if scale == "log1m" and high >= 1:
        raise SpaceError(f"{where}: scale 'log1m' (uniform in log(1 - x)) needs high < 1 (got high={high!r})")
    return Dimension(name, ptype, low=low, high=high, scale=scale)


def _in_domain(name: str, value: Any, where: str, what: str, model: str = "dcsomrl") -> Any:
    """``dcsomrl.params.check`` with the file and the key in the message."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SpaceError(f"{where}: {what}={value!r} is not finite")
    if isinstance(value, str) and registry(model)[name].type != "categorical":
        raise SpaceError(f"{where}: {what}={value!r} is text; write the number without quotes")
    try:
        return check(name, value, model)
    except ParameterError as err:
        raise SpaceError(f"{where}: {what}: {err}") from None


# --------------------------------------------------------------------------- writing

def dump_space(space: Space) -> str:
    """The TOML text of a space; :func:`parse_space` reads it back unchanged."""
    import tomli_w

    return tomli_w.dumps(space.to_dict())


def write_space(space: Space, path: str | pathlib.Path) -> pathlib.Path:
    """Write a space file (e.g. a refined space from the analysis) that ``lhs --space FILE`` accepts."""
    path = pathlib.Path(path)
    parse_space(space.to_dict(), str(path), space.model)  # never write a file we would refuse to read
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_space(space))
    return path
