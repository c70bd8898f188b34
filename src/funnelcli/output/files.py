"""Writing a report to a file atomically: a failed run never leaves a half-written or lost file."""

from __future__ import annotations

import os
import tempfile

from funnelcli.errors import FunnelError


def write_atomic(text: str, path: str) -> None:
    """Write `text` to `path` through a temporary file in its folder and a rename.

    The file keeps the permissions of the one it replaces (or the usual ones for a new file).
    Raises FunnelError when the folder or the file cannot be written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=".funnelcli-", suffix=".tmp",
                                             delete=False, newline="")
    except OSError as exc:
        raise FunnelError(f"{path}: cannot write here: {exc.strerror or exc}") from None
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644 & ~_umask())
        os.replace(handle.name, path)
    except OSError as exc:
        os.unlink(handle.name)
        raise FunnelError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


EXTENSIONS = {".txt": "text", ".md": "markdown", ".csv": "csv", ".json": "json", ".html": "html", ".htm": "html"}


def format_for_path(path: str) -> str:
    """Return the output format a file name asks for by its extension (text when unknown)."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower(), "text")
