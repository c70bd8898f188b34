"""Writing a report to a file atomically: a failed run never leaves a half-written or lost file."""

from __future__ import annotations

import os
import stat
import tempfile

from funnelcli.errors import FunnelError, option


def check_output(path: str, inputs: list[str]) -> None:
    """Raise (exit 2) when the output file is an input of the run (the export, a definitions
    file, a joined file: the report would replace it) or exists and is not a regular file (a
    folder, a device such as /dev/sda, a FIFO). A symlink is judged by the file it points to."""
    if path in (None, "-"):
        return
    if not path.strip():
        raise FunnelError(f"{option('output')}: the name is empty; name a file to write the report to (or leave out -o to print it)")
    target = os.path.realpath(path)
    try:
        info = os.stat(path)  # through its links (realpath names /dev/stdout's pipe 'pipe:[331579]', which is no file)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FunnelError(f"{option('output')}{path}: cannot use it: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) \
            else "a FIFO" if stat.S_ISFIFO(info.st_mode) else "not a regular file"
        raise FunnelError(f"{option('output')}{path}: is {kind}, not a file; name a file to write the report to "
                          "(or leave out -o to print it)")
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):  # kept from writes: replacing it would pass by that
        raise FunnelError(f"{option('output')}{path}: is read-only; make it writable (chmod u+w) to replace it, or "
                          "write the report to another file")
    for source in inputs:
        try:
            same = source not in (None, "-") and os.path.samefile(target, source)
        except OSError:
            continue
        if same:
            raise FunnelError(f"{option('output')}{path}: is {source}, an input of this run: the report would replace it; "
                              "write the report to another file")


def write_atomic(text: str, path: str) -> None:
    """Write `text` to `path` through a temporary file in its folder and a rename.

    A symlink stays: the file it points to is replaced. The file keeps the permissions of the
    one it replaces (or the usual ones for a new file). The temporary file never outlives the
    call, not on an error nor on Ctrl-C or SIGTERM (which the CLI turns into exceptions).
    Raises FunnelError when the folder or the file cannot be written.
    """
    path = os.path.realpath(path) if os.path.islink(path) else path
    folder = os.path.dirname(os.path.abspath(path))
    try:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=".funnelcli-", suffix=".tmp",
                                             delete=False, newline="")
    except FileNotFoundError:
        raise FunnelError(f"{path}: the folder {os.path.dirname(path) or '.'!r} does not exist; create it, "
                          "or name a file in a folder that does") from None
    except OSError as exc:
        raise FunnelError(f"{path}: cannot write here: {exc.strerror or exc}") from None
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644 & ~_umask())
        os.replace(handle.name, path)
    except BaseException as exc:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
        if isinstance(exc, OSError):
            raise FunnelError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


EXTENSIONS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".csv": "csv", ".json": "json", ".html": "html",
              ".htm": "html"}


# files that are not text: writing a text report under these names would give a file that the
# program they belong to can't open
NOT_TEXT = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers", ".pdf", ".doc", ".docx", ".pptx", ".png", ".jpg", ".zip", ".parquet")


def format_for_path(path: str) -> str:
    """Return the output format a file name asks for by its extension (text when unknown); raise
    for an extension of a file that is not text (.xlsx, .pdf)."""
    extension = os.path.splitext(path)[1].lower()
    if extension in NOT_TEXT:
        raise FunnelError(f"{option('output')}{path}: funnelcli writes text, not {extension} files; for a spreadsheet "
                          "write .csv (Excel and LibreOffice open it), or choose -f with a name ending .txt .md .csv .json .html")
    return EXTENSIONS.get(extension, "text")
