"""Mail: one multipart message (a text and an HTML part, the same report) sent through SMTP.

Settings come from options or FUNNELCLI_SMTP_* variables, never from the definitions. The
password is used for the login only: it is never printed, logged or put in a message.
"""

from __future__ import annotations

import email.policy
import re
import smtplib
import socket
import ssl
import threading
import time
import unicodedata
from email import errors
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from funnelcli.errors import DeliveryError, FunnelError, option
from funnelcli.output.smtp import DEFAULT_PORTS, TLS_MODES, SmtpSettings  # noqa: F401  (mail.SmtpSettings, mail.TLS_MODES)


def parse_recipients(text: str) -> list[str]:
    """Return the addresses of 'a@x.com, B <b@y.org>' (commas or semicolons between them); raise
    ValueError naming the first entry that is not one address (every entry is checked: none is
    dropped or rewritten)."""
    entries = [e.strip() for e in _split_addresses(text)]
    found = []
    for entry in entries:
        if entry:
            found.append(_address(entry).addr_spec)
    if not found:
        raise ValueError(f"not an email address: {text.strip()!r}" if text.strip() else
                         "no address given (the value is empty): give one or more, separated by commas")
    return found


def parse_sender(text: str) -> str:
    """Return the sender as given ('a@x.com' or 'Name <a@x.com>') when it is one address; raise
    ValueError naming what is wrong."""
    entries = [e.strip() for e in _split_addresses(text) if e.strip()]
    if len(entries) != 1:
        raise ValueError(f"give one sender address, got {text.strip()!r}")
    _address(entries[0])
    return entries[0]


def check_subject(text: str) -> str:
    """Return the subject; raise ValueError when it holds a line break or another control character
    (a header that could forge further headers), written out or in an encoded word (=?utf-8?q?=0D=0A?=),
    which the email package decodes when the header is set."""
    from email import policy

    try:  # decoded as the message will decode it when the header is set (leniently: an unknown charset too)
        decoded = str(policy.default.header_factory("Subject", text))
    except Exception:  # noqa: BLE001 - what the email package can't read, it must not be asked to send
        raise ValueError("the subject holds an encoded word (=?...?=) the email package cannot read; give plain text") from None
    bad = next((c for c in text + decoded if _breaks_a_header(c) and c != "\t"), None)
    if bad is not None:
        kind = ("a line break (CR or LF)" if bad in "\r\n" else f"a line separator ({_codepoint(bad)})"
                if unicodedata.category(bad) in ("Zl", "Zp") else f"a control character ({_codepoint(bad)})")
        raise ValueError(f"{kind} is not allowed in a mail subject; give one line of text")
    return text


def _breaks_a_header(char: str) -> bool:
    """Return whether a character can't be in a header: a control character, or a line or
    paragraph separator (U+2028, U+2029: the email package refuses them as line breaks)."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def _split_addresses(text: str) -> list[str]:
    """Return the entries of an address list, split at commas and semicolons outside quotes,
    <angle brackets> and (comments)."""
    entries, current, quoted, depth, escaped = [], [], False, 0, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "<(":
            depth += 1
        elif not quoted and char in ">)":
            depth = max(0, depth - 1)
        elif not quoted and depth == 0 and char in ",;":
            entries.append("".join(current))
            current = []
            continue
        current.append(char)
    entries.append("".join(current))
    return entries


_DOMAIN = re.compile(r"^(?:(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?\.)*(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?$|^\[[0-9A-Fa-f:.]+\]$")


def _address(entry: str) -> Address:
    """Return the one address an entry holds; raise ValueError naming the entry otherwise."""
    problem = ValueError(f"not an email address: {entry!r}")
    if any(_breaks_a_header(c) for c in entry):
        raise ValueError(f"not an email address: {entry!r} (it holds a line break or a control character)")
    try:
        header = email.policy.default.header_factory("To", entry)
    except (IndexError, ValueError, TypeError, AttributeError):  # the parser trips on some inputs ('a@')
        raise problem from None
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects or len(header.addresses) != 1:
        raise problem
    address = header.addresses[0]
    if not address.username or not _DOMAIN.match(address.domain or ""):
        raise problem
    return address


def build_message(subject: str, sender: str, recipients: list[str], text: str, html: str) -> EmailMessage:
    """Return a multipart/alternative message: the text part first, then the HTML part."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-Mailer"] = "funnelcli"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def default_sender(user: str | None) -> str:
    """Return the sender when none is given: the SMTP user if it is an address, else funnelcli@host."""
    if user and "@" in user:
        return user
    name = socket.getfqdn()
    if not name or name.startswith("localhost"):  # a machine without a domain name: its own name
        name = socket.gethostname() or "localhost"
    return f"funnelcli@{name}"


def subject_of(report) -> str:
    """Return the default subject of a mailed digest: title, period, as-of date, missed targets."""
    missed = report.data.get("missed_targets") or []
    period, as_of = report.data.get("headline_period"), report.data.get("as_of")
    when = f"as of {as_of}" if as_of else "no dates in the export"
    subject = f"{report.title}: {period} ({when})" if period else f"{report.title} ({when})"
    if missed:
        subject += f", {len(missed)} target{'s' if len(missed) != 1 else ''} missed"
    return subject


def compose(report, recipients: list[str], sender: str | None = None, subject: str | None = None,
            user: str | None = None) -> EmailMessage:
    """Return the report as a message with a text and an HTML part (defaults for sender and subject);
    raise FunnelError for a sender, subject or recipient that is not one (a header must not forge others)."""
    from funnelcli.output import render

    try:
        sender = parse_sender(sender) if sender else default_sender(user)
    except ValueError as exc:
        raise FunnelError(f"{option('email_from')}{sender!r}: {exc}") from None
    try:
        subject = check_subject(subject) if subject else subject_of(report)
    except ValueError as exc:
        raise FunnelError(f"{option('subject')}: {exc}") from None
    try:
        recipients = [a for r in recipients for a in parse_recipients(r)]
    except ValueError as exc:
        raise FunnelError(f"{option('email_to')}: {exc}") from None
    return build_message(subject, sender, recipients, render.render(report, "text"), render.render(report, "html"))


class _Deadline:
    """One deadline for a whole send: when it passes, the connection is shut down, which ends
    whatever read or write is waiting (a server that answers a byte every few seconds never trips
    a per-read timeout)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self.sending = False  # the message itself is on its way (DATA): it may have been delivered
        self.client = None
        self.sock = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def left(self) -> float:
        return max(0.001, self.end - time.monotonic())

    def watch(self, client, sock) -> None:
        with self._lock:
            self.client, self.sock = client, sock
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            _shut(getattr(self.client, "sock", None) or self.sock)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _shut(sock) -> None:
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # closed already
            pass


def _client(settings: SmtpSettings, port: int, deadline: _Deadline, context) -> smtplib.SMTP:
    """Return a client connected to the server, its socket watched by the deadline."""
    base = smtplib.SMTP_SSL if settings.tls == "tls" else smtplib.SMTP

    class Client(base):
        def _get_socket(self, host, port, timeout):
            sock = super()._get_socket(host, port, min(timeout, deadline.left()))
            deadline.watch(self, sock)
            return sock

        def data(self, msg):
            deadline.sending = True
            return super().data(msg)

    kwargs = {"context": context} if settings.tls == "tls" else {}
    client = Client(timeout=min(settings.timeout, deadline.left()), **kwargs)  # not connected yet: watched first
    client._host = settings.host  # the name TLS checks the certificate against (the constructor sets it when it connects)
    code, text = client.connect(settings.host, port)
    if code != 220:  # a greeting such as '421 too busy': the server's own words say why
        client.close()
        if deadline.expired:  # cut short by the deadline: the caller says so
            raise TimeoutError("the greeting did not come in time")
        raise DeliveryError(f"SMTP server {settings.host}:{port} refused the connection: {_reply((code, text))}; "
                            "the report was not sent; try again later or check the server")
    return client


def send(message: EmailMessage, settings: SmtpSettings) -> None:
    """Send the message within settings.timeout seconds in all; raise DeliveryError saying what went
    wrong, whether anything was sent, and what to check."""
    port = settings.port or DEFAULT_PORTS[settings.tls]
    where = f"SMTP server {settings.host}:{port}"
    with _Deadline(settings.timeout) as deadline:
        try:
            _deliver(message, settings, port, where, deadline)
        except DeliveryError:
            raise
        except Exception as exc:
            if deadline.expired:
                sent = ("the report may or may not have been delivered: check a recipient's inbox before sending again"
                        if deadline.sending else "the report was not sent")
                raise DeliveryError(f"{where} did not finish within {settings.timeout:g} s ({option('smtp_timeout')}); {sent}") from None
            raise _delivery_error(exc, settings, where, deadline.sending) from None


def _deliver(message: EmailMessage, settings: SmtpSettings, port: int, where: str, deadline: _Deadline) -> None:
    context = ssl.create_default_context()
    client = _client(settings, port, deadline, context)
    try:
        client.ehlo()
        if settings.tls == "starttls":
            if not client.has_extn("starttls"):
                raise DeliveryError(f"{where} does not offer STARTTLS; set {option('smtp_tls')} none (or FUNNELCLI_SMTP_TLS=none) "
                                    "for a server without TLS, or tls for implicit TLS; the report was not sent")
            client.starttls(context=context)
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password or "")
        refused = client.send_message(message)
    except BaseException:  # Ctrl-C too: no goodbye to wait for (smtplib's `with` sends QUIT and waits, then says it failed)
        client.close()
        raise
    try:  # the server took the report: how it answers the goodbye changes nothing
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()
    if refused:  # some recipients refused, the others accepted: they have the report
        accepted = [a.addr_spec for a in message["To"].addresses if a.addr_spec not in refused]
        shown = ", ".join(f"{addr} ({_reply(reply)})" for addr, reply in refused.items())
        raise DeliveryError(f"{where} refused {len(refused)} of {len(refused) + len(accepted)} recipients: {shown}; "
                            f"the report was sent to {', '.join(accepted)} only; check the refused addresses")


def _delivery_error(exc: Exception, settings: SmtpSettings, where: str, sending: bool = False) -> DeliveryError:
    """Return the DeliveryError for an exception of a send: what went wrong, whether the report
    may have arrived (`sending`: the message was being handed over), and what to check."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"{where} refused the login for user {settings.user!r}; check FUNNELCLI_SMTP_USER and FUNNELCLI_SMTP_PASSWORD")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if settings.user:  # AUTH is offered only over TLS by most servers, or not at all by a relay
            return DeliveryError(f"{where} does not support login: {_reply(exc)}; the report was not sent; a server that "
                                 "offers login only over TLS needs --smtp-tls starttls (or tls), and a relay that takes "
                                 "mail without login needs no FUNNELCLI_SMTP_USER")
        return DeliveryError(f"{where} does not support that: {_reply(exc)}; the report was not sent")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{addr} ({_reply(reply)})" for addr, reply in exc.recipients.items())
        return DeliveryError(f"{where} refused the recipients: {refused}; the report was not sent")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        if exc.smtp_code == 530:  # "authentication required", answered to MAIL FROM
            return DeliveryError(f"{where} requires a login ({_reply(exc)}); set FUNNELCLI_SMTP_USER and FUNNELCLI_SMTP_PASSWORD")
        return DeliveryError(f"{where} refused the sender {exc.sender!r}: {_reply(exc)}; set {option('email_from')}")
    if isinstance(exc, smtplib.SMTPDataError):
        return DeliveryError(f"{where} refused the report: {_reply(exc)}; the report was not sent; check what the server says")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        sent = ("the report may or may not have been delivered: check a recipient's inbox before sending again"
                if sending else "the report was not sent")
        return DeliveryError(f"{where} closed the connection ({exc}); {sent}")
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(f"{where} failed: {_reply(exc)}; the report was not sent")
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"TLS with {where} failed: {exc.reason or exc}; check {option('smtp_tls')} and the server's certificate")
    if isinstance(exc, socket.gaierror):
        return DeliveryError(f"cannot find the SMTP server {settings.host!r}; check {option('smtp_host')} (FUNNELCLI_SMTP_HOST)")
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return DeliveryError(f"cannot connect to {where}: {exc.strerror or exc}; check {option('smtp_host')} and {option('smtp_port')}")
    raise exc


def _reply(exc) -> str:
    """Return an SMTP error's code and text, without anything that came from our side."""
    if isinstance(exc, tuple):
        code, text = exc
    else:
        code, text = getattr(exc, "smtp_code", None), getattr(exc, "smtp_error", None)
        if code is None:
            return str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()
