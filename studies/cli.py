"""The command line's shared machinery: the parser classes and the error handling of both entry points.

:func:`run` is every entry point's error handling: bad input (a name, value,
file or URL) is printed as one line, ``dcsomrl-study: error: ...``, with exit
status 2; an interrupt exits 130; anything else is one line with exit 3
(DCSOMRL_DEBUG=1 shows the traceback); the statuses are
:class:`studies.errors.Exit`. :class:`OneLineParser` makes a usage error one
line; :class:`DefaultsHelpFormatter` shows every option's default.

It is no entry point and knows no command. The two entry points use it:
``dcsomrl-study`` (:mod:`dcsomrl_study.cli`, every command) and a worker
process, ``python -m studies.worker`` (:mod:`studies.worker`, the worker
command alone). The options the commands share are :mod:`studies.arguments`.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from dcsomrl.util import one_line
from studies.errors import Exit

PROG = "dcsomrl-study"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump), exit status 2, and no option
    prefixes: ``--epoch`` is an error, not ``--epochs`` (``allow_abbrev=False``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(Exit.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def empty_default(default) -> bool:
    """Whether an option's default says nothing worth showing (None, False, SUPPRESS, an empty list)."""
    return default is None or default is False or default is argparse.SUPPRESS or default == []


def one_default_format(text: str) -> str:
    """A help text's default written one way: "(default 0.75)" and ", default 10" read "(default: ...)"."""
    text = re.sub(r"\(default (?!:)", "(default: ", text)
    return re.sub(r", default (?!:)([^,;()]+)$", r" (default: \1)", text)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's default in ``--help``, in one format, "(default: X)": appended unless the help
    already says "default: ..." (a default that needs words, e.g. "default: the space's"); other ways of
    writing it are rewritten (:func:`one_default_format`)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = one_default_format(action.help or "")
        if "default:" in text or empty_default(action.default) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def finish(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Give every subcommand a description (its help line when it has none) and its defaults in --help."""
    for action in sub._choices_actions:
        command = sub.choices[action.dest]
        command.formatter_class = DefaultsHelpFormatter
        command.description = command.description or action.help
    return parser


# Exception kinds that mean bad input (a name, value, file or URL), printed as
# one line: ParameterError, DataError, SpaceError, AnalysisError, ... are all
# ValueErrors; missing or unreadable files are OSErrors.
USER_ERRORS = (ValueError, OSError)


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run its subcommand with the error handling of the module docstring."""
    args = parser.parse_args(argv)
    if args.command is None:  # bare dcsomrl-study: the list of commands
        parser.print_help()
        return Exit.OK
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except USER_ERRORS as exc:
        if os.environ.get("DCSOMRL_DEBUG"):
            raise
        print(f"{PROG}: error: {one_line(exc, limit=None)}", file=sys.stderr)
        return Exit.USAGE
    except Exception as exc:  # never a traceback for the user; DCSOMRL_DEBUG=1 shows it
        if os.environ.get("DCSOMRL_DEBUG"):
            raise
        print(f"{PROG}: internal error: {one_line(exc, with_type=True, limit=None)} "
              f"(set DCSOMRL_DEBUG=1 for the traceback)", file=sys.stderr)
        return Exit.INTERNAL

