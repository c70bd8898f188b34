"""SMTP settings: the TLS modes, their default ports, and the settings of one send.

Standard library only and light: the CLI offers the TLS modes as choices when it starts, and
importing smtplib and ssl (mail.py) would cost every `--help` about 30 ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TLS_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_TIMEOUT = 60.0  # --smtp-timeout: one deadline for the whole send


@dataclass
class SmtpSettings:
    host: str = "localhost"
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: str = "starttls"
    timeout: float = DEFAULT_TIMEOUT  # seconds for the whole send (connecting, TLS, login, the message), not per read

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port or DEFAULT_PORTS[self.tls]}"
