"""`report --email-to`: mail through a real SMTP server (aiosmtpd) started by the test.

The report is made from tests/fixtures/purgatory.csv, whose numbers tests/test_purgatory.py
derives by hand; here the targets add:
  MQL stuck <= 10%:  3 of the 15 MQLs are stuck (20.0%)                         -> missed
  MQL->SQL >= 10%:   monthly MQL cohorts; the rate needs 3 + 10 = 13 days to be final, so
                     June (ends on the as-of date) is immature and May is the latest mature
                     cohort: L5, L6, L7, none of them at SQL: 0 of 3 (0.0%)       -> missed
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from html.parser import HTMLParser

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from tests.conftest import FIXTURES, run

CSV = str(FIXTURES / "purgatory.csv")
TARGETS = "targets:\n  MQL stuck: {max: 0.10}\n  MQL->SQL: 0.10\n"


@pytest.fixture
def defs(write):
    return str(write("defs.yml", (FIXTURES / "purgatory.yml").read_text() + TARGETS))


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server():
    """Start SMTP servers on localhost; stop them after the test."""
    started = []

    def start(**options) -> tuple[Inbox, int]:
        inbox = Inbox()
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        started.append(controller)
        return inbox, port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def tls_files(ca, tmp_path):
    """A server TLS context for 127.0.0.1, and the CA file a client trusts it with."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return context, str(cafile)


def mail_env(port: int, tls: str = "none", **extra) -> dict:
    env = {"FUNNELCLI_SMTP_HOST": "127.0.0.1", "FUNNELCLI_SMTP_PORT": str(port), "FUNNELCLI_SMTP_TLS": tls}
    env.update(extra)
    return env


def send(defs, *args, env):
    return run("report", CSV, "-d", defs, "--period", "month", "-q", *args, env=env)


def parts(message) -> dict:
    return {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}


def test_mailed_as_text_and_html(server, defs):
    inbox, port = server()
    result = send(defs, "--email-to", "sales@example.com, Marketing <mkt@example.org>",
                  "--email-from", "funnel@example.com", env=mail_env(port))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # quiet on success: cron mails nothing
    [(rcpts, message)] = inbox.messages
    assert rcpts == ["sales@example.com", "mkt@example.org"]
    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == "funnel@example.com"
    assert message["To"] == "sales@example.com, mkt@example.org"
    # the headline is June: the as-of date is its last day, so it is the last whole month
    assert message["Subject"] == "Funnel report, monthly: 2024-06 (as of 2024-06-30), 2 targets missed"
    body = parts(message)
    assert set(body) == {"text/plain", "text/html"}
    text, html = body["text/plain"], body["text/html"]
    # The same numbers in both parts: MQL reached 15, 9 to SAL (60.0%), 1 exited, 3 stuck, 2 in
    # progress; days to SAL between own dates (L16 skipped MQL): L7, L12, L13, L14 1, L9 14,
    # L10 19, L11 21, L8 24 -> median (1 + 14) / 2 = 7.5; the two targets missed.
    assert "MQL         15          9      60.0%      100.0%       1      3            2          7.5" in text
    assert "MQL stuck  <= 10%   20.0%      3  15  stuck at 2024-06-30             missed" in text
    assert "MQL->SQL   >= 10%    0.0%      0   3  cohort 2024-05 (latest mature)  missed" in text
    for cell in ("<td", ">15<", ">20.0%<", ">0.0%<", ">cohort 2024-05 (latest mature)<", ">missed<"):
        assert cell in html
    assert "16 rows read = 15 leads in the report + 1 never reached MQL + 0 excluded" in text and html


def test_fail_on_miss_exits_1_after_sending(server, defs, tmp_path):
    inbox, port = server()
    out = tmp_path / "report.html"
    result = send(defs, "--email-to", "a@example.com", "--fail-on-miss", "-o", str(out), env=mail_env(port))
    assert result.exit_code == 1
    assert len(inbox.messages) == 1 and out.read_text().startswith("<!DOCTYPE html>")


def test_login_to_a_server_that_requires_it(server, defs):
    def authenticator(server_, session, envelope, mechanism, auth_data):
        def text(value):
            return value.decode() if isinstance(value, bytes) else value

        ok = isinstance(auth_data, LoginPassword) and text(auth_data.login) == "robot" and text(auth_data.password) == "s3cret!"
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself

    with pytest.warns(UserWarning, match="Requiring AUTH while not requiring TLS"):  # fine on localhost
        inbox, port = server(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    good = send(defs, "--email-to", "a@example.com", env=mail_env(port, FUNNELCLI_SMTP_USER="robot", FUNNELCLI_SMTP_PASSWORD="s3cret!"))
    assert good.exit_code == 0, good.stderr
    assert len(inbox.messages) == 1
    bad = send(defs, "--email-to", "a@example.com", env=mail_env(port, FUNNELCLI_SMTP_USER="robot", FUNNELCLI_SMTP_PASSWORD="wrong-pw-123"))
    assert bad.exit_code == 2
    assert "refused the login for user 'robot'" in bad.stderr
    assert "wrong-pw-123" not in bad.stderr + bad.stdout  # the password is never printed
    nobody = send(defs, "--email-to", "a@example.com", env=mail_env(port))
    assert nobody.exit_code == 2 and "requires a login (530" in nobody.stderr and "FUNNELCLI_SMTP_USER" in nobody.stderr
    assert len(inbox.messages) == 1


def test_refused_connection_still_writes_the_report(defs, tmp_path):
    out = tmp_path / "report.txt"
    result = send(defs, "--email-to", "a@example.com", "-o", str(out), env=mail_env(free_port()))
    assert result.exit_code == 2
    assert "cannot connect to SMTP server 127.0.0.1:" in result.stderr
    assert "Funnel report, monthly" in out.read_text()


def test_starttls(server, defs, tls_files):
    context, cafile = tls_files
    inbox, port = server(tls_context=context, require_starttls=True)
    result = send(defs, "--email-to", "a@example.com", env=mail_env(port, "starttls", SSL_CERT_FILE=cafile))
    assert result.exit_code == 0, result.stderr
    assert len(inbox.messages) == 1
    # without the CA, the server's certificate is not trusted: a clear error, exit 2
    untrusted = send(defs, "--email-to", "a@example.com", env=mail_env(port, "starttls", SSL_CERT_FILE=str(FIXTURES / "small.csv")))
    assert untrusted.exit_code == 2 and "TLS with SMTP server" in untrusted.stderr


def test_starttls_asked_of_a_server_without_it(server, defs):
    _, port = server()
    result = send(defs, "--email-to", "a@example.com", env=mail_env(port, "starttls"))
    assert result.exit_code == 2 and "does not offer STARTTLS" in result.stderr and "--smtp-tls none" in result.stderr


def test_implicit_tls(server, defs, tls_files):
    context, cafile = tls_files
    inbox, port = server(ssl_context=context)
    result = send(defs, "--email-to", "a@example.com", env=mail_env(port, "tls", SSL_CERT_FILE=cafile))
    assert result.exit_code == 0, result.stderr
    assert len(inbox.messages) == 1


def test_a_login_to_a_server_that_offers_none_says_the_report_was_not_sent_and_what_to_change(server, defs):
    # aiosmtpd without an authenticator offers no AUTH: the login can't happen
    inbox, port = server()
    result = send(defs, "--email-to", "a@example.com", env=mail_env(port, FUNNELCLI_SMTP_USER="robot", FUNNELCLI_SMTP_PASSWORD="pw"))
    assert result.exit_code == 2
    assert "does not support login" in result.stderr and "the report was not sent" in result.stderr
    assert "--smtp-tls starttls" in result.stderr and "FUNNELCLI_SMTP_USER" in result.stderr
    assert inbox.messages == []


def test_a_format_with_email_to_and_no_output_file_is_refused(server, defs, tmp_path):
    # -f csv was dropped without a word: the mail went out as text and HTML, exit 0
    inbox, port = server()
    result = send(defs, "--email-to", "a@example.com", "-f", "csv", env=mail_env(port))
    assert result.exit_code == 2 and "-f csv with --email-to" in result.stderr and "-o FILE" in result.stderr
    assert inbox.messages == []
    out = tmp_path / "report.csv"  # with -o, -f is the file's format, and the mail goes too
    both = send(defs, "--email-to", "a@example.com", "-f", "csv", "-o", str(out), env=mail_env(port))
    assert both.exit_code == 0, both.stderr
    assert len(inbox.messages) == 1 and out.read_text().startswith("stage,")


def test_the_api_mails_to_one_address_given_as_a_string(server, defs):
    # mail_report(report, "a@example.com") went through the string a letter at a time: "'a' is not an address"
    import funnelcli

    inbox, port = server()
    report = funnelcli.digest(funnelcli.run(CSV, defs), "month")
    funnelcli.mail_report(report, "a@example.com", smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none")
    assert [rcpt for rcpt, _ in inbox.messages] == [["a@example.com"]]


def test_bad_recipient_is_a_usage_error(defs):
    result = send(defs, "--email-to", "not-an-address", env={})
    assert result.exit_code == 2 and "not an email address" in result.stderr


# --------------------------------------------------------------------------------------------
# The HTML: one well-formed document, no scripts, every value escaped


class Checker(HTMLParser):
    VOID = {"meta", "br", "img", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_well_formed_and_escaped(write):
    # An owner named like markup must come out as text, not as markup.
    csv = (FIXTURES / "purgatory.csv").read_text().replace(",Bob,", ",<script>alert('x')</script> & Co,")
    export = write("export.csv", csv)
    result = run("report", str(export), "-d", str(FIXTURES / "purgatory.yml"), "--period", "month", "-f", "html", "-q")
    assert result.exit_code == 0, result.stderr
    checker = Checker()
    checker.feed(result.stdout)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert checker.tags[:2] == ["html", "head"] and "script" not in checker.tags and "style" not in checker.tags
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co" in result.stdout
    assert "<script>alert('x')</script> & Co" in "".join(checker.text)  # the reader sees the name


def test_the_subject_of_an_export_with_no_dates_says_so(server):
    # the flag export has no dates: no period, no as-of date (it read "Funnel report:  (as of None)")
    from tests.conftest import FLAG_SAMPLE, ROOT

    inbox, port = server()
    result = run("report", str(FLAG_SAMPLE), "-d", str(ROOT / "definitions" / "flag"), "-q",
                 "--email-to", "sales@example.com", "--email-from", "funnel@example.com", env=mail_env(port))
    assert result.exit_code == 0, result.stderr
    [(_, message)] = inbox.messages
    assert message["Subject"] == "Funnel report (no dates in the export)"
