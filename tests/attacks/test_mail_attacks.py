"""Mail against hostile input and misbehaving servers (issue 11, item 5).

Each case runs `report --email-to` against a server the test starts: aiosmtpd for one that
refuses some recipients, a socket server of a few lines for one that answers a byte at a time.
Every case ends with exit 2 and a message saying what happened and whether the report went out;
never exit 0 for a report some recipients did not get, never an internal error, never a hang.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from tests.conftest import FIXTURES, ROOT, run

CSV = str(FIXTURES / "purgatory.csv")
DEFS = str(FIXTURES / "purgatory.yml")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mail(*args, port: int, **env):
    environment = {"FUNNELCLI_SMTP_HOST": "127.0.0.1", "FUNNELCLI_SMTP_PORT": str(port), "FUNNELCLI_SMTP_TLS": "none", **env}
    return run("report", CSV, "-d", DEFS, "--period", "month", "-q", *args, env=environment)


def failed(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


class Picky:
    """An aiosmtpd handler that refuses every recipient whose name starts with 'nobody'."""

    def __init__(self):
        self.delivered: list[list[str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def picky():
    handler = Picky()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def test_some_recipients_refused_is_exit_2_naming_them_and_who_got_it(picky):
    handler, port = picky
    result = mail("--email-to", "sales@example.com, nobody@example.com", port=port)
    failed(result, "refused 1 of 2 recipients: nobody@example.com (550 5.1.1 no such mailbox)",
           "the report was sent to sales@example.com only")
    assert handler.delivered == [["sales@example.com"]]  # what the message says is what happened
    assert "mailed the report" not in result.stderr


def test_every_recipient_refused_says_nothing_was_sent(picky):
    handler, port = picky
    result = mail("--email-to", "nobody@example.com,nobody2@example.com", port=port)
    failed(result, "refused the recipients: nobody@example.com (550", "nobody2@example.com", "the report was not sent")
    assert handler.delivered == []


# --------------------------------------------------------------------------------------------
# A server that answers one byte at a time: each byte well within any per-read timeout


class ScriptedServer:
    """An SMTP server on a socket for one connection, whose `talk` a subclass scripts."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            try:
                self.talk(conn, conn.makefile("rb"))
            except OSError:  # the client hung up: what a deadline does
                pass

    def talk(self, conn, lines) -> None:
        raise NotImplementedError


class Dribbler(ScriptedServer):
    """A scripted SMTP server: it answers properly, except that the reply to `slow` (a command,
    or 'greeting') comes one byte every 0.1 s, forever."""

    def __init__(self, slow: str):
        self.slow = slow
        self.stop = threading.Event()
        self.got_data = False
        super().__init__()

    def reply(self, conn, what: str, text: bytes) -> None:
        if what != self.slow:
            conn.sendall(text)
            return
        while not self.stop.is_set():
            conn.sendall(b"2")  # "2" forever: never a whole line
            time.sleep(0.1)

    def talk(self, conn, lines) -> None:
        self.reply(conn, "greeting", b"220 slow.example ESMTP\r\n")
        while not self.stop.is_set() and (line := lines.readline()):
            verb = line.split()[0].upper().decode() if line.strip() else ""
            if verb == "DATA":
                conn.sendall(b"354 go on\r\n")
                while lines.readline() not in (b".\r\n", b""):
                    pass
                self.got_data = True
                self.reply(conn, "DATA", b"250 queued\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                self.reply(conn, verb, b"250 ok\r\n")

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def dribbler():
    servers = []

    def start(slow: str) -> Dribbler:
        servers.append(Dribbler(slow))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_server_answering_a_byte_at_a_time_meets_one_deadline(dribbler):
    server = dribbler("greeting")
    began = time.monotonic()
    result = mail("--email-to", "sales@example.com", "--smtp-timeout", "0.5", port=server.port)
    took = time.monotonic() - began
    failed(result, f"SMTP server 127.0.0.1:{server.port} did not finish within 0.5 s (--smtp-timeout)", "the report was not sent")
    assert took < 2.5, took  # not a per-read timeout: the bytes never stop coming


def test_a_slow_reply_to_a_recipient_is_cut_too(dribbler):
    server = dribbler("RCPT")
    result = mail("--email-to", "sales@example.com", port=server.port, FUNNELCLI_SMTP_TIMEOUT="0.5")
    failed(result, "did not finish within 0.5 s", "the report was not sent")
    assert not server.got_data


def test_a_slow_answer_to_the_message_says_it_may_have_arrived(dribbler):
    # The server has the whole message and never confirms it: funnelcli cannot know.
    server = dribbler("DATA")
    result = mail("--email-to", "sales@example.com", "--smtp-timeout", "0.5", port=server.port)
    failed(result, "did not finish within 0.5 s", "may or may not have been delivered", "before sending again")
    assert server.got_data


def test_the_deadline_must_be_positive():
    result = mail("--email-to", "sales@example.com", "--smtp-timeout", "0", port=free_port())
    assert result.exit_code == 2 and "--smtp-timeout" in result.stderr


# --------------------------------------------------------------------------------------------
# Headers: no line breaks, no address dropped or rewritten


@pytest.mark.parametrize("option, value, message", [
    ("--subject", "Weekly\r\nBcc: attacker@evil.example", "Invalid value for --subject: a line break (CR or LF) is not allowed"),
    ("--subject", "Weekly\nfunnel", "a line break (CR or LF)"),
    ("--subject", "Weekly \x1b[2J", "a control character (U+001B)"),
    # the email package reads U+2028 as a line break: it was an internal error after the run
    ("--subject", "Weekly\u2028Bcc: attacker@evil.example", "a line separator (U+2028)"),
    ("--subject", "Weekly\u2029funnel", "a line separator (U+2029)"),
    # in an encoded word, which the email package decodes when the header is set: it wrote
    # 'Subject: Weekly x' and 'Bcc: attacker@evil.example' on the wire
    ("--subject", "Weekly =?utf-8?q?x=0D=0ABcc:_attacker@evil.example?=", "a line break (CR or LF)"),
    ("--subject", "Weekly =?utf-8?q?=1B[31mRED?=", "a control character (U+001B)"),
    # a charset Python doesn't know, and an RFC 2231 language tag: the email package decodes them
    # leniently when the header is set, and the check that read them strictly let them through
    ("--subject", "Weekly =?bogus?q?x=0D=0ABcc:_attacker@evil.example?=", "a line break (CR or LF)"),
    ("--subject", "Weekly =?utf-8*en?q?x=0D=0ABcc:_attacker@evil.example?=", "a line break (CR or LF)"),
    ("--email-from", "f@example.com\r\nBcc: attacker@evil.example", "Invalid value for --email-from: not an email address"),
    ("--email-from", "f@example.com, g@example.com", "give one sender address"),
    ("--email-from", "funnel", "--email-from: not an email address: 'funnel'"),
])
def test_header_options_that_would_forge_headers_are_usage_errors(picky, option, value, message):
    handler, port = picky
    result = mail("--email-to", "sales@example.com", option, value, port=port)
    failed(result, message)
    assert handler.delivered == []


@pytest.mark.parametrize("addresses, named", [
    ("sales@example.com, <>", "'<>'"),
    ("sales@example.com, @", "'@'"),
    ("sales@example.com, a@@example.com", "'a@@example.com'"),
    ("sales@example.com, first last@example.com", "'first last@example.com'"),  # was sent to '"first last"@example.com'
    ("sales@example.com, a@example..com", "'a@example..com'"),
    ("sales@example.com, a@-example.com", "'a@-example.com'"),
    ("sales@example.com, a@", "'a@'"),
    ("sales@example.com\nBcc: attacker@evil.example", "line break"),
])
def test_an_invalid_address_in_a_list_is_refused_not_dropped(picky, addresses, named):
    handler, port = picky
    result = mail("--email-to", addresses, port=port)
    failed(result, "Invalid value for --email-to: not an email address", named)
    assert handler.delivered == []  # nothing sent to the valid ones either: the list is wrong


def test_an_empty_recipient_list_is_refused_not_ignored(picky):
    # EMAIL_TO unset in a crontab: --email-to "$EMAIL_TO" printed the report and sent nothing, exit 0
    handler, port = picky
    result = mail("--email-to", "", port=port)
    failed(result, "Invalid value for --email-to: no address given (the value is empty)")
    assert handler.delivered == []


def test_valid_lists_still_go_out(picky):
    handler, port = picky
    result = mail("--email-to", '"Doe, Jane" <jane@example.com>; sales@example.com,,ops@[127.0.0.1]',
                  "--email-from", "Funnel bot <funnel@example.com>", "--subject", "Weekly\tfunnel", port=port)
    assert result.exit_code == 0, result.stderr
    assert handler.delivered == [["jane@example.com", "sales@example.com", "ops@[127.0.0.1]"]]


def test_the_python_api_refuses_a_forged_header_too(picky):
    from funnelcli import api
    from funnelcli.errors import FunnelError

    _, port = picky
    funnel = api.run(CSV, DEFS)
    digest = api.digest(funnel, "month")
    with pytest.raises(FunnelError, match="^subject: a line break"):
        api.mail_report(digest, ["sales@example.com"], subject="x\r\nBcc: a@evil.example", smtp_host="127.0.0.1",
                        smtp_port=port, smtp_tls="none")


class Failing(ScriptedServer):
    """A scripted SMTP server that fails one way: 'busy' greets with 421 and hangs up; 'spam'
    answers the message with 554; 'drop' hangs up once the message is in; 'odd-goodbye' takes the
    message and answers QUIT with 250, not 221."""

    def __init__(self, mode: str):
        self.mode = mode
        super().__init__()

    def talk(self, conn, lines) -> None:
        if self.mode == "busy":
            conn.sendall(b"421 4.3.2 too busy, try later\r\n")
            return
        conn.sendall(b"220 scripted.example ESMTP\r\n")
        while line := lines.readline():
            verb = line.split()[0].upper().decode() if line.strip() else ""
            if verb == "DATA":
                conn.sendall(b"354 go on\r\n")
                while lines.readline() not in (b".\r\n", b""):
                    pass
                if self.mode == "drop":
                    return
                if self.mode == "odd-goodbye":
                    conn.sendall(b"250 2.0.0 queued\r\n")
                    continue
                conn.sendall(b"554 5.7.1 rejected as spam\r\n")
            elif verb == "QUIT":
                conn.sendall(b"250 2.0.0 Bye\r\n" if self.mode == "odd-goodbye" else b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")


def test_a_report_the_server_took_is_sent_however_it_answers_the_goodbye():
    # 250 to the message, then 250 (not 221) to QUIT: smtplib raised, and the run said "the report
    # was not sent" (exit 2) of a report the server had; a cron job's retry mailed it twice
    server = Failing("odd-goodbye")
    try:
        result = mail("--email-to", "sales@example.com", "--smtp-timeout", "5", port=server.port)
        assert result.exit_code == 0, result.stderr
    finally:
        server.listener.close()


def test_ctrl_c_while_the_server_takes_the_report_exits_130_at_once(dribbler, tmp_path):
    # Ctrl-C while the server answers the message a byte at a time: smtplib's `with` sent QUIT and
    # waited out the whole --smtp-timeout for an answer, then said the report was not sent
    server = dribbler("DATA")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FUNNELCLI_SMTP_HOST": "127.0.0.1",
           "FUNNELCLI_SMTP_PORT": str(server.port), "FUNNELCLI_SMTP_TLS": "none"}
    proc = subprocess.Popen([sys.executable, "-m", "funnelcli", "report", CSV, "-d", DEFS, "--period", "month", "-q",
                             "--email-to", "sales@example.com", "--smtp-timeout", "60"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(400):
            if server.got_data:
                break
            time.sleep(0.05)
        assert server.got_data
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        assert proc.wait(timeout=15) == 130
        assert time.monotonic() - start < 5
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("mode, said, sent", [
    ("busy", "refused the connection: 421 4.3.2 too busy, try later", "the report was not sent"),
    ("spam", "refused the report: 554 5.7.1 rejected as spam", "the report was not sent"),
    ("drop", "closed the connection", "the report may or may not have been delivered"),
])
def test_a_server_that_fails_says_why_and_whether_the_report_went(mode, said, sent):
    server = Failing(mode)
    try:
        result = mail("--email-to", "sales@example.com", "--smtp-timeout", "5", port=server.port)
        failed(result, f"SMTP server 127.0.0.1:{server.port} {said}", sent)
    finally:
        server.listener.close()
