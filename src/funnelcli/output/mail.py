"""Mail: one multipart message (a text and an HTML part, the same report) sent through SMTP.

Settings come from options or FUNNELCLI_SMTP_* variables, never from the definitions. The
password is used for the login only: it is never printed, logged or put in a message.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid

from funnelcli.errors import DeliveryError, option
from funnelcli.output.smtp import DEFAULT_PORTS, TLS_MODES, SmtpSettings  # noqa: F401  (mail.SmtpSettings, mail.TLS_MODES)


def parse_recipients(text: str) -> list[str]:
    """Return the addresses of 'a@x.com, B <b@y.org>'; raise ValueError naming a bad one."""
    found = [addr for _, addr in getaddresses([text]) if addr]
    bad = [a for a in found if "@" not in a or a.startswith("@") or a.endswith("@")]
    if not found or bad:
        raise ValueError(f"not an email address: {(bad or [text])[0]!r}")
    return found


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
    return f"funnelcli@{socket.getfqdn() or 'localhost'}"


def subject_of(report) -> str:
    """Return the default subject of a mailed digest: title, period, as-of date, missed targets."""
    missed = report.data.get("missed_targets") or []
    subject = f"{report.title}: {report.data.get('headline_period') or ''} (as of {report.data['as_of']})"
    if missed:
        subject += f", {len(missed)} target{'s' if len(missed) != 1 else ''} missed"
    return subject


def compose(report, recipients: list[str], sender: str | None = None, subject: str | None = None,
            user: str | None = None) -> EmailMessage:
    """Return the report as a message with a text and an HTML part (defaults for sender and subject)."""
    from funnelcli.output import render

    return build_message(subject or subject_of(report), sender or default_sender(user), recipients,
                         render.render(report, "text"), render.render(report, "html"))


def send(message: EmailMessage, settings: SmtpSettings) -> None:
    """Send the message; raise DeliveryError saying what went wrong and what to check."""
    port = settings.port or DEFAULT_PORTS[settings.tls]
    where = f"SMTP server {settings.host}:{port}"
    context = ssl.create_default_context()
    try:
        if settings.tls == "tls":
            client = smtplib.SMTP_SSL(settings.host, port, timeout=settings.timeout, context=context)
        else:
            client = smtplib.SMTP(settings.host, port, timeout=settings.timeout)
        with client:
            client.ehlo()
            if settings.tls == "starttls":
                if not client.has_extn("starttls"):
                    raise DeliveryError(f"{where} does not offer STARTTLS; set {option('smtp_tls')} none (or FUNNELCLI_SMTP_TLS=none) "
                                        "for a server without TLS, or tls for implicit TLS")
                client.starttls(context=context)
                client.ehlo()
            if settings.user:
                client.login(settings.user, settings.password or "")
            client.send_message(message)
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError:
        raise DeliveryError(f"{where} refused the login for user {settings.user!r}; check FUNNELCLI_SMTP_USER and FUNNELCLI_SMTP_PASSWORD") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"{where} does not support {'login' if settings.user else 'that'}: {_reply(exc)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(f"{addr} ({_reply(reply)})" for addr, reply in exc.recipients.items())
        raise DeliveryError(f"{where} refused the recipients: {refused}") from None
    except smtplib.SMTPSenderRefused as exc:
        if exc.smtp_code == 530:  # "authentication required", answered to MAIL FROM
            raise DeliveryError(f"{where} requires a login ({_reply(exc)}); set FUNNELCLI_SMTP_USER and FUNNELCLI_SMTP_PASSWORD") from None
        raise DeliveryError(f"{where} refused the sender {exc.sender!r}: {_reply(exc)}; set {option('email_from')}") from None
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"{where} failed: {_reply(exc)}") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"TLS with {where} failed: {exc.reason or exc}; check {option('smtp_tls')} and the server's certificate") from None
    except socket.gaierror:
        raise DeliveryError(f"cannot find the SMTP server {settings.host!r}; check {option('smtp_host')} (FUNNELCLI_SMTP_HOST)") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"cannot connect to {where}: {exc.strerror or exc}; check {option('smtp_host')} and {option('smtp_port')}") from None


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
