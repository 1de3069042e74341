"""The analysis layer's error: kept apart so that the CLI can name it without importing pandas."""
from __future__ import annotations

import numbers


class AnalysisError(ValueError):
    """The table (or the request) cannot be analysed as asked. The message is one line."""


def check_count(option: str, value, high: int, what: str) -> int:
    """``value`` as an int, or AnalysisError unless it is an integer in [1, ``high``]:
    ``--k must be an integer in [1, 60000] (the training rows of mnist), got 0``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= high:
        raise AnalysisError(f"{option} must be an integer in [1, {high}] ({what}), got {value!r}")
    return int(value)
