"""An opt-in cache of the loaded lead table, for cron jobs that run several reports on one export
(`--cache`, or FUNNELCLI_CACHE=1).

The key is everything a loaded table depends on: funnelcli's version, a digest of its own source
(a table loaded by other code, an upgrade or a checkout, is never read) and the layout of what is
pickled; the export's and each joined file's path, size, modification and change times, inode
and a hash of its first and last 64 KiB; the definitions' digest (which covers every file's bytes and any --set);
the encoding and delimiter.
A file changed in any of these is another key: a stale entry is never read, and a changed
definition never borrows an old load. Entries live in the user's cache folder
($XDG_CACHE_HOME/funnelcli, else ~/.cache/funnelcli; FUNNELCLI_CACHE_DIR to choose), written
atomically; the oldest are removed beyond MAX_ENTRIES. An entry that can't be read is ignored and
replaced. The entries are pickles: only the user's own folder is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path

EDGE = 1 << 16  # bytes hashed at each end of a file
LAYOUT = 3  # of the pickled lead table: raised when its arrays change (2: dates as int32 days; 3: latest_where)
MAX_ENTRIES = 16


def folder() -> Path:
    chosen = os.environ.get("FUNNELCLI_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "funnelcli"


def fingerprint(path: str) -> dict:
    """Return what identifies a file's content without reading all of it."""
    info = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(EDGE))
        if info.st_size > EDGE:
            handle.seek(max(EDGE, info.st_size - EDGE))
            digest.update(handle.read(EDGE))
    # the change time and the inode too: a write in the middle of the file that keeps its size,
    # with its modification time set back (touch -r, a sync tool), still moves the change time,
    # which no user can set; a file replaced by another is another inode
    return {"path": os.path.abspath(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns, "ctime_ns": info.st_ctime_ns,
            "inode": info.st_ino, "edges": digest.hexdigest()}


def key(export: str, files: list[str], digest: str, settings: dict) -> str:
    from funnelcli import __version__

    parts = {"version": __version__, "code": code_digest(), "layout": LAYOUT, "export": fingerprint(export),
             "files": [fingerprint(f) for f in files], "definitions": digest, "settings": settings}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def code_digest() -> str:
    """Return a digest of funnelcli's own source files (a few ms): a change to how a table is
    loaded changes the key, whatever the version says."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def load(name: str, kind: type | None = None):
    """Return the cached object under `name`, or None (none, unreadable, or not a `kind`)."""
    path = folder() / f"{name}.pickle"
    try:
        with open(path, "rb") as handle:
            found = pickle.load(handle)
        if kind is not None and not isinstance(found, kind):  # another program's pickle, or a damaged entry
            return None
        os.utime(path)  # recently used: kept longest
        return found
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None


def store(name: str, value) -> None:
    """Keep `value` under `name`, atomically; a cache that can't be written is no error."""
    where = folder()
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=where, prefix=".tmp-", suffix=".pickle", delete=False) as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, where / f"{name}.pickle")
        entries = sorted(where.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[MAX_ENTRIES:]:
            old.unlink(missing_ok=True)
    except OSError:
        try:
            os.unlink(handle.name)
        except (OSError, NameError, UnboundLocalError):
            pass
