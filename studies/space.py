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

A space is read in one pass of two steps (:func:`parse_space`): :func:`read_space`
reads the document's shape into :class:`Dimension` s (keys, types, kinds), then
:func:`check_space` checks the whole space against its model's parameter registry
once (each bound, choice and fixed value by its :class:`dcsomrl.params.Param`).
Every problem raises :class:`SpaceError`, one line naming the file, the
parameter and the problem.

A space belongs to one model (``model = "desom"`` at the top of the file; no
key means ``dcsomrl``), whose parameter registry (:func:`dcsomrl.params.registry`)
names its parameters and their domains. Shipped spaces are found by name for a
dataset and a model (:func:`resolve_space`): ``<dataset>-<name>.toml`` first,
then ``<name>.toml``, in ``studies/spaces/`` for dcsomrl (and somrl, which shares
its parameters) and in ``studies/spaces/<model>/`` for any other model.

The space's Optuna distributions, recorded with each trial's parameters
(:meth:`Dimension.distribution`, :meth:`Space.distributions`): int and float
ranges as Int/FloatDistribution (``log`` scale as ``log=True``; ``log1m`` as a
linear float), choices as a CategoricalDistribution, a fixed value as a
one-point range (one choice). Optuna is imported only when they are asked for.
"""
from __future__ import annotations

import math
import pathlib
import sys
import tomllib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dcsomrl import models
from dcsomrl.params import Param, ParameterError, registry
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
    """One parameter of a space: a range on a scale, a list of choices, or a fixed value. Built as read
    (:func:`read_dimension`: the table's values, None where it gives none), then :func:`check_dimension`."""

    name: str
    type: str  # "float", "int" or "categorical" (None as read when the table names none)
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
        params, dims = registry(self.model), dict(self.dims)
        for name, value in values.items():
            dims[name] = check_dimension(Dimension(name, None, value=value, fixed=True), params,
                                         f"{self.name}: parameter {name}", self.model)
        return replace(self, dims=dims)


# --------------------------------------------------------------------------- reading: its shape, then its model

def parse_space(data: dict[str, Any], source: str = "<space>", model: str | None = None) -> Space:
    """A space document (the parsed TOML) read (:func:`read_space`), then checked (:func:`check_space`).

    ``source`` names the file in error messages; the space's name is its stem.
    ``model``: the model the caller studies; a document naming another model's
    parameters is refused. None: the document's own ``model`` (default dcsomrl).
    """
    return check_space(read_space(data, source, model), source)


def read_space(data: dict[str, Any], source: str = "<space>", model: str | None = None) -> Space:
    """The document's shape as an unchecked :class:`Space`: one :func:`read_dimension` per [params.<name>]."""
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
    return Space(name, {pname: read_dimension(pname, table, source) for pname, table in params.items()},
                 description, model)


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


def read_dimension(name: str, table: Any, source: str) -> Dimension:
    """One [params.<name>] table as written, unchecked: its keys, its declared type, and its kind: a fixed
    ``value``, or ``choices`` / ``low``, ``high``, ``scale`` (None where the table gives none)."""
    where = f"{source}: parameter {name}"
    if not isinstance(table, dict):
        raise SpaceError(f"{where}: expected a table, got {table!r}")
    unknown = set(table) - _KEYS
    if unknown:
        raise SpaceError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(_KEYS))}")
    declared = table.get("type")
    if declared is not None and declared not in TYPES:
        raise SpaceError(f"{where}: unknown type {declared!r}; expected one of {', '.join(TYPES)}")
    if "value" in table:
        extra = set(table) & {"low", "high", "scale", "choices"}
        if extra:
            raise SpaceError(f"{where}: a fixed 'value' excludes {', '.join(sorted(extra))}")
        return Dimension(name, declared, value=table["value"], fixed=True)
    return Dimension(name, declared, low=table.get("low"), high=table.get("high"), scale=table.get("scale"),
                     choices=table.get("choices"))


def check_space(space: Space, source: str) -> Space:
    """The space with every dimension checked against its model's registry (:func:`check_dimension`):
    the registry is looked up once, each value is checked by its parameter (:class:`dcsomrl.params.Param`)."""
    params = registry(space.model)
    return replace(space, dims={name: check_dimension(dim, params, f"{source}: parameter {name}", space.model)
                                for name, dim in space.dims.items()})


def check_dimension(dim: Dimension, params: dict[str, Param], where: str, model: str = "dcsomrl") -> Dimension:
    """``dim`` checked against its parameter in ``params`` (the model's registry): the parameter's type, the
    values in its domain and converted to its type, the defaults filled in. SpaceError names ``where``."""
    if dim.name not in params:
        of = "" if model == "dcsomrl" else f" of model {model!r}"
        raise SpaceError(f"{where}: unknown parameter{of}; known: {', '.join(params)}")
    param = params[dim.name]
    if dim.type is not None and dim.type != param.type:
        raise SpaceError(f"{where}: type {dim.type!r} does not match the parameter's type {param.type!r}")
    dim = replace(dim, type=param.type)
    if dim.fixed:
        return replace(dim, value=_in_domain(param, dim.value, where, "value"))
    if param.type == "categorical":
        return _check_choices(dim, param, where)
    return _check_range(dim, param, where)


def _check_choices(dim: Dimension, param: Param, where: str) -> Dimension:
    """A categorical dimension: a non-empty list of distinct choices, each in the domain, no range or scale."""
    extra = sorted(key for key in ("low", "high") if getattr(dim, key) is not None)
    if extra:
        raise SpaceError(f"{where}: a categorical parameter takes 'choices', not {', '.join(extra)}")
    choices = dim.choices
    if not isinstance(choices, list) or not choices:
        raise SpaceError(f"{where}: expected a non-empty list 'choices' (or a fixed 'value')")
    if len(set(map(str, choices))) != len(choices):
        raise SpaceError(f"{where}: repeated choices in {choices!r}")
    scale = dim.scale or "linear"
    if scale != "linear":
        raise SpaceError(f"{where}: a categorical parameter has no scale (got {scale!r})")
    return replace(dim, choices=tuple(_in_domain(param, c, where, "choice") for c in choices), scale=scale)


def _check_range(dim: Dimension, param: Param, where: str) -> Dimension:
    """An int or float dimension: ``low`` < ``high``, both in the domain, on a scale that suits them."""
    if dim.choices is not None:
        raise SpaceError(f"{where}: 'choices' is only for categorical parameters")
    for key in ("low", "high"):
        if getattr(dim, key) is None:
            raise SpaceError(f"{where}: missing '{key}' (or give a fixed 'value')")
    if param.type == "int":
        for key in ("low", "high"):
            bound = getattr(dim, key)
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or (
                    math.isfinite(bound) and float(bound) != int(bound)):
                raise SpaceError(f"{where}: {key}={bound!r} is not an integer")
    low = _in_domain(param, dim.low, where, "low")
    high = _in_domain(param, dim.high, where, "high")
    if not low < high:
        raise SpaceError(f"{where}: low={low!r} must be < high={high!r} (or give a fixed 'value')")
    return replace(dim, low=low, high=high, scale=_check_scale(dim.scale or "linear", param.type, low, high, where),
                   choices=())


def _check_scale(scale: Any, ptype: str, low: float, high: float, where: str) -> str:
    """A range's scale: known, meant for the parameter's type, and defined over [low, high]."""
    if scale not in SCALES:
        raise SpaceError(f"{where}: unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    if scale not in _SCALES_FOR[ptype]:
        raise SpaceError(f"{where}: scale {scale!r} is not for {ptype} parameters; "
                         f"use one of {', '.join(_SCALES_FOR[ptype])}")
    if scale == "log" and low <= 0:
        raise SpaceError(f"{where}: scale 'log' needs low > 0 (got low={low!r})")
    if scale == "log1m" and high >= 1:
        raise SpaceError(f"{where}: scale 'log1m' (uniform in log(1 - x)) needs high < 1 (got high={high!r})")
    return scale


def _in_domain(param: Param, value: Any, where: str, what: str) -> Any:
    """``param.check(value)`` (:meth:`dcsomrl.params.Param.check`) with the file and the key in the message."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SpaceError(f"{where}: {what}={value!r} is not finite")
    if isinstance(value, str) and param.type != "categorical":
        raise SpaceError(f"{where}: {what}={value!r} is text; write the number without quotes")
    try:
        return param.check(value)
    except ParameterError as err:
        raise SpaceError(f"{where}: {what}: {err}") from None


def load_space(path: str | pathlib.Path, model: str | None = None) -> Space:
    """Read and check a space file (of ``model`` when given, as :func:`parse_space`)."""
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
    read = read_space(data, str(path), model)
    space = check_space(read, str(path))
    # a space *file* names the type of every range and choice list (a fixed value needs none): one without
    # is read as the registry's type, and a one-line notice says so
    untyped = [f"{name} as {space.dims[name].type}" for name, dim in read.dims.items()
               if dim.type is None and not dim.fixed]
    if untyped:
        print(f"dcsomrl-study: notice: {path}: no 'type' given for {', '.join(untyped)} (the parameters' own "
              "types); write type = ... to silence this", file=sys.stderr, flush=True)
    return space


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
