"""A sign of life on a terminal while a long load runs: a spinner on stderr after a couple of
seconds, with what is being done and for how long; nothing when stderr is not a terminal (cron,
pipes) or with -q, and nothing for runs that finish quickly."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TextIO

SHOW_AFTER = 2.0  # seconds: a quick run stays silent


@contextlib.contextmanager
def progress(what: str, stream: TextIO | None, quiet: bool = False, after: float = SHOW_AFTER) -> Iterator[None]:
    """Show "what (N s)" with a spinner on `stream` while the block runs longer than `after`
    seconds, if `stream` is a terminal; clear it when the block ends, however it ends."""
    if quiet or stream is None or not getattr(stream, "isatty", lambda: False)():
        yield
        return
    done = threading.Event()
    thread = threading.Thread(target=_spin, args=(what, stream, done, after), daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _spin(what: str, stream: TextIO, done: threading.Event, after: float) -> None:
    if done.wait(after):
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, stderr=True, highlight=False, emoji=False)
    start = time.monotonic() - after
    with console.status(Text(what)) as status:
        while not done.wait(0.25):
            status.update(Text(f"{what} ({time.monotonic() - start:.0f} s)"))
