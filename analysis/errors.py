"""The analysis layer's error: kept apart so that the CLI can name it without importing pandas."""
from __future__ import annotations


class AnalysisError(ValueError):
    """The table (or the request) cannot be analysed as asked. The message is one line."""
