"""The runner's exceptions. Each message is one line; the CLI prints it and exits 2.

``StudiesError`` is the base class the CLI catches; the others say where the
problem lies.
"""


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
