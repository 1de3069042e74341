"""Count the operations a piece of torch code dispatches, and the ones that would stall a GPU.

:class:`OpCounter` is a ``TorchDispatchMode``: it sees every ATen operation on
its way to a kernel, on any device, so the host synchronisations of a training
step can be counted on the CPU, in CI, without a GPU. An operation is a *sync*
when on a GPU it must wait for the device before Python can go on:

- reading a value: ``_local_scalar_dense`` (``.item()``, ``bool()``, ``int()``),
  ``is_nonzero``, ``equal``, ``allclose``;
- a result whose shape depends on the data: ``nonzero``, ``masked_select``,
  ``unique``, ``repeat_interleave`` with tensor repeats, indexing (``index``,
  ``index_put_``) with a boolean mask;
- Python data made into a tensor inside the step (``lift_fresh``; a Python number in an
  op is passed by value and is no copy):
  on a GPU a blocking host-to-device copy, as is an ``index_put_`` of a 0-dim value;
- a copy between devices (``_to_copy``/``copy_`` from or to the CPU of a device tensor).

Used by tests/dcsomrl/test_step_sync.py and benchmarks/bench_core.py (the
before/after counts of the issue "a training step without host syncs").
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

SYNC_OPS = {"aten.nonzero", "aten._local_scalar_dense", "aten.is_nonzero", "aten.masked_select",
            "aten.item", "aten.equal", "aten.allclose", "aten.unique", "aten._unique", "aten._unique2",
            "aten.unique_consecutive", "aten.unique_dim", "aten.lift_fresh", "aten.lift_fresh_copy",
            "aten.masked_scatter", "aten.nonzero_static"}
INDEX_OPS = {"aten.index", "aten.index_put", "aten.index_put_", "aten._index_put_impl_"}


def _tensors(obj):
    """The tensors in a (nested) argument."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)


def sync_reason(func, args, kwargs) -> str | None:
    """Why this operation syncs a GPU with the host (None: it does not)."""
    name = str(func.overloadpacket)
    if name in SYNC_OPS:
        return name
    if name == "aten.repeat_interleave" and func._overloadname.startswith("Tensor") \
            and kwargs.get("output_size") is None:
        return "repeat_interleave without output_size"
    if name in INDEX_OPS:
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        if any(t.dtype in (torch.bool, torch.uint8) for t in _tensors(indices)):
            return f"{name} with a boolean mask"
        if name != "aten.index" and len(args) > 2 and isinstance(args[2], torch.Tensor) and args[2].dim() == 0:
            return f"{name} with a 0-dim (host scalar) value"
    if name in ("aten._to_copy", "aten.copy_", "aten.to"):
        devices = {t.device.type for t in _tensors(list(args))}
        target = kwargs.get("device")
        if target is not None:
            devices.add(torch.device(target).type)
        if len(devices) > 1:
            return f"{name} between {' and '.join(sorted(devices))}"
    return None


class OpCounter(TorchDispatchMode):
    """Record every dispatched op as (name, output shapes) and every sync as (name, reason).

    >>> with OpCounter() as ops:
    ...     train_step(...)
    >>> ops.syncs, ops.kernels, ops.signature()
    """

    def __init__(self):
        super().__init__()
        self.ops: list[tuple[str, tuple]] = []
        self.syncs: list[tuple[str, str]] = []
        self.kernels = 0  # ops that are not views (about one kernel launch each)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        reason = sync_reason(func, args, kwargs)
        if reason is not None:
            self.syncs.append((str(func), reason))
        out = func(*args, **kwargs)
        shapes = tuple(tuple(t.shape) for t in _tensors(out if isinstance(out, (list, tuple)) else [out]))
        self.ops.append((str(func), shapes))
        self.kernels += not func.is_view
        return out

    def signature(self) -> list[tuple[str, tuple]]:
        """The op sequence with output shapes: equal for two runs that launch the same kernels."""
        return list(self.ops)
