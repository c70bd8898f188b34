"""Text that is data: control characters written out, never sent to a terminal.

`visible` lives in funnelcli.errors, the lowest layer, so that messages about files use it too.
"""

from __future__ import annotations

import re

from funnelcli.errors import visible  # noqa: F401  (the outputs' one way to write a value out)

_BEYOND_C0 = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")  # what json leaves as it is
