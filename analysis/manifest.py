"""What a command wrote into a folder, so that a later run removes only its own files.

``analyze --out DIR`` may point at a folder that holds the user's own files. A run
records the files it wrote in ``DIR/.dcsomrl-written.json`` (:func:`record`); the
next run removes exactly those (:func:`clear`) before it writes, so no stale figure
of an earlier report stays behind and no file of the user's is ever deleted.
:func:`foreign` lists the files a run would overwrite that no run wrote (the command
refuses them without ``--force``).
"""
from __future__ import annotations

import fnmatch
import json
from pathlib import Path

#: The manifest's file name (in the folder it describes).
MANIFEST = ".dcsomrl-written.json"


def written(folder: Path) -> list[str]:
    """The names of the files the last run recorded in ``folder`` (none without a readable manifest)."""
    try:
        names = json.loads((Path(folder) / MANIFEST).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in names if isinstance(n, str) and "/" not in n and n not in ("", ".", "..", MANIFEST)]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """``{name: (mtime_ns, size)}`` of the plain files in ``folder`` (the manifest left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {f.name: (f.stat().st_mtime_ns, f.stat().st_size) for f in folder.iterdir()
            if f.is_file() and f.name != MANIFEST}


def clear(folder: Path) -> dict[str, tuple[int, int]]:
    """Remove the files the last run recorded in ``folder`` (never any other); the folder's
    :func:`snapshot` afterwards, to give :func:`record`."""
    folder = Path(folder)
    for name in written(folder):
        path = folder / name
        if path.is_file():
            path.unlink()
    return snapshot(folder)


def record(folder: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    """Write the manifest: the files of ``folder`` that are new or changed since ``before``; their names."""
    after = snapshot(folder)
    names = sorted(n for n, stat in after.items() if before.get(n) != stat)
    (Path(folder) / MANIFEST).write_text(json.dumps({"files": names}, indent=1))
    return names


def foreign(folder: Path, patterns, ours=lambda path: False) -> list[Path]:
    """The files of ``folder`` whose names match ``patterns`` (globs) that no recorded run wrote: the
    user's, which a run writing those names would overwrite. ``ours(path)``: whether a file without a
    manifest is still one of ours (written before manifests existed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    mine = set(written(folder))
    legacy = not (folder / MANIFEST).is_file()
    return sorted(f for f in folder.iterdir()
                  if f.is_file() and f.name not in mine and any(fnmatch.fnmatch(f.name, p) for p in patterns)
                  and not (legacy and ours(f)))
