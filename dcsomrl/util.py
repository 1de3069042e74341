"""Small helpers shared by every package (dcsomrl, studies, analysis).

Kept free of heavy imports (no torch, numpy or pandas) so that the CLI can
use them before it loads anything else.
"""
from __future__ import annotations

import os
import socket


def one_line(exc: BaseException, *, with_type: bool = False, limit: int | None = 300) -> str:
    """An exception's message as one line (its lines joined), cut to ``limit`` characters
    (``None``: never cut; what the command line prints of an error, which must stay whole).

    ``with_type`` prefixes the exception's class name (for errors that are not
    the user's, where the kind says what went wrong).
    """
    text = " ".join(s.strip() for s in str(exc).splitlines() if s.strip()) or type(exc).__name__
    if with_type:
        text = f"{type(exc).__name__}: {text}"
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


def host_name() -> str:
    """This machine's name as recorded on trials and runs (env ``DCSOMRL_HOST`` overrides it)."""
    return os.environ.get("DCSOMRL_HOST") or socket.gethostname()


def as_numpy(a):
    """A tensor (any device) or array-like as a numpy array (numpy imported here, not at module import)."""
    import numpy as np

    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
