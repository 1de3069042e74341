"""The analysis layer's subcommands of ``dcsomrl-study``: a static registry of their modules.

Each module holds its parsers beside its handlers; :mod:`analysis.cli_options` holds the options and
inputs they share.

    analyze   analysis/cli_analyze.py    sensitivity report: report.md, CSV tables, figures
    refine    analysis/cli_spaces.py     narrowed space from the behavioural trials
    best      analysis/cli_spaces.py     the best trial's (or the robust best's) fixed values
    final     analysis/cli_final.py      fixed values over N seeds beside k-means and Table 1
    protocol  analysis/cli_protocol.py   appendix A.1 as one resumable chain of studies

``add_commands(subparsers)`` registers them; each sets ``func``, a function of
the parsed arguments returning the exit code. The trials come from a study
(``--study NAME [--storage URL] [--results DIR]``, read with
:func:`studies.export.study_table`) or from a CSV table (``--table FILE``,
e.g. written by ``dcsomrl-study export``). Bad input raises
:class:`analysis.errors.AnalysisError` (a ValueError, one line), which
``studies.cli.run`` prints as ``dcsomrl-study: error: ...`` with exit 2.

``--results DIR`` is the results folder of every command (the default
storage, ``<results>/<study>/journal.log``, and the default output place);
``--out`` names what analyze, refine and best write (for ``final`` it is a
deprecated alias of ``--results``).

Only the standard library and light modules are imported by registering: ``--help``
must not load pandas or numpy; each handler imports what it needs.
"""
from __future__ import annotations

import argparse

from . import cli_analyze, cli_final, cli_protocol, cli_spaces

#: The registry, in the order ``dcsomrl-study --help`` lists the commands.
REGISTRY = (cli_analyze.register, cli_spaces.register, cli_final.register, cli_protocol.register)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``analyze``, ``refine``, ``best``, ``final`` and ``protocol``."""
    for register in REGISTRY:
        register(sub)
