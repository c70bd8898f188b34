"""A spinner on stderr while a long load runs, only on a terminal, never with -q (issue 11, item 10)."""

from __future__ import annotations

import io
import time

from funnelcli.output.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_run_on_a_terminal_shows_what_it_does():
    stream = Terminal()
    with progress("funnelcli: reading big.csv", stream, after=0.05):
        time.sleep(0.6)
    assert "funnelcli: reading big.csv" in stream.getvalue()


def test_a_quick_run_shows_nothing():
    stream = Terminal()
    with progress("funnelcli: reading small.csv", stream, after=0.5):
        pass
    assert stream.getvalue() == ""


def test_nothing_when_piped_or_quiet():
    piped, quiet = io.StringIO(), Terminal()
    with progress("funnelcli: reading big.csv", piped, after=0.01):
        time.sleep(0.1)
    with progress("funnelcli: reading big.csv", quiet, quiet=True, after=0.01):
        time.sleep(0.1)
    assert piped.getvalue() == "" and quiet.getvalue() == ""


def test_the_spinner_stops_when_the_run_fails():
    stream = Terminal()
    try:
        with progress("funnelcli: reading big.csv", stream, after=0.01):
            time.sleep(0.1)
            raise ValueError("boom")
    except ValueError:
        pass
    written = len(stream.getvalue())
    time.sleep(0.4)
    assert written > 0 and len(stream.getvalue()) == written  # nothing more once the block ended
