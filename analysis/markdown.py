"""Markdown text of the reports: one table writer.

* :func:`markdown_table`: a GitHub-flavoured table of a DataFrame, cells by
  :func:`analysis.formatting.number_text` (pandas' ``to_markdown`` would need
  ``tabulate``). The number formats themselves live in :mod:`analysis.formatting`.
"""
from __future__ import annotations

from .formatting import number_text


def markdown_table(frame) -> str:
    """A GitHub-flavoured Markdown table of the DataFrame ``frame`` (cells: :func:`number_text`)."""
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(number_text(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])
