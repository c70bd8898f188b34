"""Which definitions belong together: the files a run merges, for `validate` given single files.

A run given a folder (`-d definitions/`) merges every *.yml and *.yaml file in it. pre-commit and
editors pass single changed files instead: `validate definitions/targets.yml` must check that file
with its siblings, as the run would merge them, or a file of targets alone lacks the stages it
names. A folder is one set of definitions when at most one of its files lists `stages:` (the
stages can't be merged, so the run refuses two); a folder of separate funnels side by side (a
fixtures folder) has its files checked one by one. Definitions read from stdin ('-') are a set
of their own, shown as `<stdin>`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

STDIN = "-"
STDIN_NAME = "<stdin>"
SUFFIXES = (".yml", ".yaml")
_STAGES = re.compile(r"^(stages|'stages'|\"stages\")\s*:", re.MULTILINE)


def folder_files(folder: str) -> list[str]:
    """Return the definition files of a folder as the run lists them: *.yml and *.yaml, not
    hidden, sorted (a file's path joined to the folder as given, '' for the current one)."""
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    return sorted(os.path.join(folder, n) for n in names
                  if n.endswith(SUFFIXES) and not n.startswith(".") and os.path.isfile(os.path.join(folder or ".", n)))


def _lists_stages(path: str) -> bool:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            return bool(_STAGES.search(handle.read()))
    except OSError:
        return False


def one_set(folder: str) -> bool:
    """Return whether a folder's files are one set of definitions: at most one lists stages."""
    return sum(_lists_stages(f) for f in folder_files(folder)) <= 1


def definition_sets(paths: list[str]) -> list[list[str]]:
    """Return the sets of definitions that `paths` name, each a list of paths the run would merge,
    in the order given: a folder as it is; a file with its sibling files when its folder is one set
    (see `one_set`), else alone; '-' (stdin) alone. A file named twice, or both alone and with its
    folder, is checked once."""
    sets: dict[str, list[str]] = {}
    for path in paths:
        if path == STDIN:
            sets.setdefault(STDIN, [STDIN])
        elif os.path.isdir(path):
            sets.setdefault(os.path.realpath(path), [path])
        else:
            folder = os.path.dirname(path)
            siblings = folder_files(folder) if path.endswith(SUFFIXES) and os.path.exists(path) else []
            if len(siblings) > 1 and one_set(folder):
                sets.setdefault(os.path.realpath(folder or "."), siblings)
            else:
                sets.setdefault(os.path.realpath(path), [path])
    return list(sets.values())


@contextlib.contextmanager
def stdin_as_file(paths: list[str], stdin=None) -> Iterator[tuple[list[str], str | None]]:
    """Give (the paths with '-' replaced by a temporary file holding stdin, that file's path or
    None) for as long as the block runs; the file is removed after. Problems found in it are
    renamed `<stdin>` with `rename_stdin`."""
    if STDIN not in paths:
        yield paths, None
        return
    stream = stdin if stdin is not None else sys.stdin.buffer
    data = stream.read()
    with tempfile.TemporaryDirectory(prefix="funnelcli-") as folder:
        path = os.path.join(folder, "stdin.yml")
        with open(path, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        yield [path if p == STDIN else p for p in paths], path


def rename_stdin(problems: list, temporary: str | None) -> list:
    """Return the problems with the temporary file of stdin named `<stdin>`."""
    import dataclasses

    if temporary is None:
        return problems
    return [dataclasses.replace(p, path=STDIN_NAME) if p.path == temporary else p for p in problems]
