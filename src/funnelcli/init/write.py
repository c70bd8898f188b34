"""Writing the definitions init proposes: checked first, never over an existing file, never half.

The text goes to a temporary file in the target folder and is linked to its name only if no file
has it; a folder init made is removed again when writing fails.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass

from funnelcli import definitions
from funnelcli.errors import FunnelError, InputError, option
from funnelcli.init.draft import render
from funnelcli.init.layouts import build
from funnelcli.init.sample import SAMPLE_ROWS, read_sample

FILE_NAME = "funnel.yml"


@dataclass(frozen=True)
class InitResult:
    """What init wrote: the file (None when the text went to stdout), the layout it took the export
    for, the stages, and the text."""

    path: str | None
    layout: str
    stages: list[str]
    text: str
    rows_read: int
    whole: bool  # the rows read are the whole export


def init_definitions(export: str, output: str = "definitions", *, encoding: str | None = None,
                     delimiter: str | None = None, sample_rows: int = SAMPLE_ROWS) -> InitResult:
    """Write commented definitions for the export at `export` to OUTPUT/funnel.yml ('-': only
    return the text), from its header and first `sample_rows` rows; return what was written.

    Raises InputError (nothing written) for an export it cannot make sense of, and when the file
    exists already or the folder holds definitions: init never overwrites.
    """
    target = None if output == "-" else os.path.join(output, FILE_NAME)
    if target is not None:
        _check_target(output, target)
    sample = read_sample(export, encoding, delimiter, sample_rows)
    draft = build(sample)
    text = render(draft)
    _check_text(text, sample.header, sample.name, shown=target is None)
    if target is not None:
        _write_new(text, output, target)
    return InitResult(target, draft.layout, [s.name for s in draft.stages], text, len(sample.rows), not sample.truncated)


def _check_target(folder: str, target: str) -> None:
    if os.path.lexists(target):
        raise InputError(f"{target}: the file exists already; init never overwrites: pass {option('output')}DIR "
                         "for another folder, or move the file away")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"{folder}: is a file, not a folder; pass {option('output')}DIR for a folder to write {FILE_NAME} in")
    if os.path.isdir(folder):
        held = sorted(f for f in os.listdir(folder) if f.endswith((".yml", ".yaml")))
        if held:
            raise InputError(f"{folder}: the folder holds definitions already ({', '.join(held[:3])}), which a run would "
                             f"read together with new ones; pass {option('output')}DIR for an empty or new folder")


def _check_text(text: str, header: list[str], name: str, shown: bool = False) -> None:
    """Raise when the written definitions would not load against the export's header (a bug of init);
    `shown`: they were asked for on stdout (-o -), which the message then doesn't suggest."""
    with tempfile.TemporaryDirectory(prefix="funnelcli-init-") as folder:
        path = os.path.join(folder, FILE_NAME)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        defs, problems = definitions.validate([path])
        if defs is not None:
            problems += definitions.check_headers(defs, header, name)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        listed = "\n".join(f"  {p.line}:{p.col}: {p.message}" for p in errors[:5])
        see = "" if shown else "; pass -o - to see them"
        raise FunnelError(f"{name}: init wrote definitions that do not validate (a bug of funnelcli; nothing was "
                          f"written{see}):\n{listed}")


def _write_new(text: str, folder: str, target: str) -> None:
    """Write `text` to `target`, a new file, through a temporary file and a link; never overwrite."""
    made = not os.path.isdir(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot make the folder: {exc.strerror or exc}") from None
    handle = None
    try:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=".funnelcli-init-",
                                             suffix=".tmp", delete=False, newline="")
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644 & ~_umask())
        _link_new(handle.name, target)
    except FileExistsError:
        raise InputError(f"{target}: the file exists already; init never overwrites: pass {option('output')}DIR") from None
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    finally:
        if handle is not None and os.path.exists(handle.name):
            os.unlink(handle.name)
        if made and not os.path.exists(target):
            try:
                os.rmdir(folder)
            except OSError:
                pass


def _link_new(temp: str, target: str) -> None:
    """Give the written temporary file its name, failing (FileExistsError) if the name is taken."""
    try:
        os.link(temp, target)  # fails if the file appeared meanwhile: never overwrite
    except FileExistsError:
        raise
    except OSError as exc:  # a file system without hard links: check, then rename
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.replace(temp, target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
