"""Text that is data: control characters written out, never sent to a terminal."""

from __future__ import annotations

import re

# C0 controls (escape sequences, newlines, tabs, carriage returns), DEL and C1 controls, line and
# paragraph separators, and the bidirectional overrides and isolates that reorder what is shown
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_BEYOND_C0 = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")  # what json leaves as it is


def visible(text: str) -> str:
    """Return text with its control characters written out (ESC as \\x1b, a newline as \\x0a): a
    value never moves the cursor, colours the terminal or starts a line of its own."""
    if not _INVISIBLE.search(text):
        return text
    return _INVISIBLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)
