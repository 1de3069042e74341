"""The runner's exceptions and the exit statuses of every command and worker process.

Each exception's message is one line; the CLI (:func:`studies.cli.run`) prints
it and exits :attr:`Exit.USAGE`. ``StudiesError`` is the base class; the
others say where the problem lies. :class:`Exit` is the one list of exit
statuses: of ``dcsomrl-study`` and its subcommands, of the supervisor
(:func:`studies.launch.supervise`) and of its worker processes.
"""
import enum


class Exit(enum.IntEnum):
    """Exit statuses of ``dcsomrl-study``, the supervisor and its worker processes."""

    OK = 0  # done: the command finished, the queue is drained
    UNFINISHED = 1  # trials failed: design points left waiting (workers kept failing) or none completed
    USAGE = 2  # bad input: a usage error, a bad name, value, file or URL (studies.cli.run)
    ENVIRONMENT = 3  # a problem of the machine (device, data, imports), or an unexpected error
    INTERRUPTED = 130  # stopped by SIGTERM / Ctrl-C; running trials went back to the queue

    FAILED = 1  # alias of UNFINISHED: ``train``'s one trial failed
    INTERNAL = 3  # alias of ENVIRONMENT: an unexpected error (a bug); DCSOMRL_DEBUG=1 shows the traceback


class StudiesError(ValueError):
    """A problem with a study's input (space, storage, design, devices). One-line message."""


class SpaceError(StudiesError):
    """A space file or definition that cannot be used (names the file and the parameter)."""


class StorageError(StudiesError):
    """A storage URL that cannot be used (unknown form, SQLite, unreachable server)."""


class StudyError(StudiesError):
    """A study that cannot be created, resumed or found (e.g. a different design under its name)."""


class ExportError(StudiesError):
    """A table that cannot be written where asked (names the path)."""
