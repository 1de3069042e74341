"""Device names, parsed in one place: ``cpu``, ``cuda`` or ``cuda:N`` (any case, spaces around ignored).

- :func:`parse_device` reads one name (no torch import, so a command can check
  ``--devices`` before it loads anything); ``studies.launch.parse_devices``
  reads a list of them (``auto``, or ``cpu``/``cuda:N`` items separated by commas) with it;
- :func:`resolve_device` is the one device a trial trains on, ``auto`` included
  (the first GPU if any, else the CPU), checked against the GPUs torch sees.
"""
from __future__ import annotations


def parse_device(name: str) -> tuple[str, int | None]:
    """``("cpu", None)``, ``("cuda", None)`` (torch's current GPU) or ``("cuda", N)`` for ``cuda:N``;
    ValueError for any other name."""
    text = name.strip().lower()
    if text in ("cpu", "cuda"):
        return text, None
    if text.startswith("cuda:") and text[5:].isdigit():
        return "cuda", int(text[5:])
    raise ValueError(f"unknown device {name!r}; use cpu, cuda or cuda:N")


def resolve_device(device: str):
    """The ``torch.device`` of ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (the first GPU if any, else
    the CPU); ValueError when the name is unknown or names a GPU this machine lacks. Imports torch."""
    import torch  # here, not at module import: parse_device must stay torch-free

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    kind, index = parse_device(device)
    dev = torch.device(kind, index)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but no CUDA GPU is visible")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist ({torch.cuda.device_count()} GPUs visible)")
    return dev
