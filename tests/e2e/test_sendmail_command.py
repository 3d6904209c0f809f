"""``mailrelay sendmail`` as a subprocess (the real console script), then pickup, against Postfix.

No daemon runs: sendmail writes into maildrop, the test runs ``pickup_once`` and reads the
incoming file.  The queue files are compared with what Postfix 3.7's sendmail and pickup wrote
for the same command (tests/golden/cleanup/sendmail-*.postcat, see the README there), byte for
byte once the queue ID and the dates are replaced by placeholders.  The other expectations
(``-t`` adds to the command line's recipients, exit status 75 and the texts of the fatal
errors, the ``-bs`` dialogue) were read from a private Postfix 3.7.11 (``postfix-oracle``,
``sendmail -C DIR/etc``).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mailrelay.config.locate import load_main, locate
from mailrelay.pickup.service import PickupSettings, bind_wakeup_socket, pickup_once
from mailrelay.queue.record import Envelope, Notify
from mailrelay.queue.store import Queue, QueueStore

GOLDEN = Path(__file__).parents[1] / "golden" / "cleanup"
MAILRELAY = str(Path(sys.executable).with_name("mailrelay"))
SOURCE = str(Path(__file__).parents[2] / "src")
MAIN_CF = """\
queue_directory = {spool}
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
compatibility_level = 3.6
"""
DATE = re.compile(r"\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)")
STAMP = re.compile(r"<\d{14}\.")


pytestmark = pytest.mark.usefixtures("utc")  # tests/conftest.py


def make_relay(top: Path, extra: str = "") -> tuple[Path, QueueStore]:
    etc = top / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text(MAIN_CF.format(spool=top / "spool") + extra)
    store = QueueStore(top / "spool")
    store.create_directories()
    return etc, store


@pytest.fixture
def relay(tmp_path: Path) -> tuple[Path, QueueStore]:
    return make_relay(tmp_path)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NAME", "MAILRELAY_CONFIG_DIR")}
    env["TZ"] = "UTC"
    return env


def sendmail(etc: Path, *args: str, stdin: bytes = b"",
             name: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = environment()
    if name is not None:
        env["NAME"] = name
    return subprocess.run([MAILRELAY, "-c", str(etc), "sendmail", *args], input=stdin,
                          capture_output=True, timeout=60, env=env, check=False)


def pick_up(etc: Path, store: QueueStore) -> tuple[list[tuple[str, Envelope, bytes]], list[str]]:
    settings = PickupSettings.from_config(load_main(locate(str(etc))))
    log: list[str] = []
    messages = []
    for queue_id in pickup_once(store, settings, log.append):
        with store.open(Queue.INCOMING, queue_id) as message:
            messages.append((queue_id, message.envelope, message.read_content()))
    return messages, log


def normalized(content: bytes, queue_id: str) -> bytes:
    text = content.decode("utf-8", "surrogateescape").replace(queue_id, "QUEUEID")
    return STAMP.sub("<STAMP.", DATE.sub("DATE", text)).encode("utf-8", "surrogateescape")


def postcat(name: str) -> tuple[str, str, list[str], bytes]:
    """(queue id, sender, recipients, content with CRLF) from a postcat dump."""
    text = (GOLDEN / f"{name}.postcat").read_text()
    found = re.search(r"MESSAGE CONTENTS \S+/(\w+) \*\*\*", text)
    assert found is not None
    sender = re.search(r"^sender: (.*)$", text, re.M)
    assert sender is not None
    contents = re.search(r"\*\*\* MESSAGE CONTENTS [^\n]*\n(.*?)\*\*\* HEADER EXTRACTED", text,
                         re.S)
    assert contents is not None
    recipients = re.findall(r"^recipient: (.*)$", text, re.M)
    return found.group(1), sender.group(1), recipients, contents.group(1).replace(
        "\n", "\r\n").encode()


GOLDEN_CASES = [
    ("sendmail-t-i-F", ["-t", "-i", "-F", "Cron Daemon", "-f", "root"],
     b"To: bob@example.com\nSubject: via sendmail\n\nhello\n.\nafter dot\n"),
    ("sendmail-null-sender", ["-f", "", "bob@example.com"], b"Subject: plain\n\nhello\n"),
    ("sendmail-dot-ends-input", ["bob@example.com"],
     b"Subject: plain2\n\nhello\n.\nnot reached\n"),
]


@pytest.mark.skipif(os.getuid() != 0 or pwd.getpwuid(0).pw_gecos != "root",
                    reason="the reference was captured as root, whose GECOS name is root")
@pytest.mark.parametrize(("name", "args", "stdin"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_sendmail_and_pickup_queue_what_postfix_queued(relay, name, args, stdin):
    etc, store = relay
    done = sendmail(etc, *args, stdin=stdin)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    [(queue_id, envelope, content)], log = pick_up(etc, store)
    golden_id, sender, recipients, want = postcat(name)
    assert normalized(content, queue_id) == normalized(want, golden_id)
    assert envelope.sender == sender
    assert [r.address for r in envelope.recipients] == recipients
    maillog = (GOLDEN / "sendmail-pickup-maillog.ref").read_text()
    logged = re.search(rf"postfix/pickup\[\d+\]: ({golden_id}: .*)", maillog)
    assert logged is not None
    assert log[0] == logged.group(1).replace(golden_id, queue_id)


def test_t_adds_the_header_recipients_after_the_command_line_ones(relay):
    etc, store = relay
    stdin = b"To: a@example.com\nBcc: secret@example.com\nSubject: x\n\nbody\n"
    assert sendmail(etc, "-t", "b@example.com", stdin=stdin).returncode == 0
    [(_, envelope, content)], _ = pick_up(etc, store)
    assert [r.address for r in envelope.recipients] == [
        "b@example.com", "a@example.com", "secret@example.com"]
    assert b"Bcc:" not in content


def test_lf_and_crlf_input_give_the_same_message(relay):
    etc, store = relay
    sendmail(etc, "bob@example.com", stdin=b"Subject: x\n\nline1\nline2\n")
    sendmail(etc, "bob@example.com", stdin=b"Subject: x\r\n\r\nline1\r\nline2\r\n")
    [(id1, _, first), (id2, _, second)], _ = pick_up(etc, store)
    assert normalized(first, id1) == normalized(second, id2)
    assert first.endswith(b"\r\n\r\nline1\r\nline2\r\n")


def test_names_and_lists_on_the_command_line_are_parsed_as_headers(relay):
    etc, store = relay
    done = sendmail(etc, "-f", "Joe <joe@x.example>", "-F", "Doe, John",
                    "Bob <bob@example.com>, carol@example.com",
                    stdin=b"From someone Tue Nov 24\n>From x\nSubject: s\n\nb\n")
    assert done.returncode == 0
    [(_, envelope, content)], log = pick_up(etc, store)
    assert envelope.sender == "joe@x.example"
    assert [r.address for r in envelope.recipients] == ["bob@example.com", "carol@example.com"]
    assert b'From: "Doe, John" <joe@x.example>\r\n' in content
    assert b"From someone" not in content and b">From" not in content
    assert log[0].endswith(f": uid={os.getuid()} from=<joe@x.example>")


def test_the_full_name_comes_from_name_in_the_environment_before_gecos(relay):
    etc, store = relay
    sendmail(etc, "-f", "a@x.example", "b@y.example", stdin=b"Subject: x\n\n", name="Env Name")
    sendmail(etc, "-f", "a@x.example", "b@y.example", stdin=b"Subject: x\n\n", name="")
    [(_, _, first), (_, _, second)], _ = pick_up(etc, store)
    assert b"From: Env Name <a@x.example>\r\n" in first
    assert b"From: a@x.example\r\n" in second


def test_dsn_body_type_and_gateway_options_reach_the_queue(relay):
    etc, store = relay
    done = sendmail(etc, "-N", "success,delay", "-V", "env-1", "-B", "8BITMIME", "-G",
                    "-f", "a@x.example", "b@y.example", stdin=b"Subject: x\n\nbody\n")
    assert (done.returncode, done.stderr) == (0, b"")
    [(queue_id, envelope, content)], _ = pick_up(etc, store)
    assert envelope.recipients[0].notify == Notify.SUCCESS | Notify.DELAY
    assert (envelope.dsn_envid, envelope.body_type) == ("env-1", "8BITMIME")
    assert normalized(content, queue_id).split(b"\r\n")[2:] == [b"Subject: x", b"", b"body", b""]


@pytest.mark.parametrize(
    ("args", "stdin", "error"),
    [
        (["-t"], b"Subject: x\n\nb\n", "{who}: No recipient addresses found in message header"),
        ([], b"Subject: x\n\nb\n",
         "{who}: Recipient addresses must be specified on the command line or via the -t option"),
        (["-bs", "x@y"], b"", "stand-alone mode requires no recipient"),
        (["-t", "-bs"], b"", "-t can be used only in delivery mode"),
        (["-B", "9BIT", "x@y"], b"", "-B option needs 8BITMIME or 7BIT"),
    ],
    ids=["-t without recipients", "no recipients", "-bs with recipients", "-t with -bs",
         "bad -B"],
)
def test_fatal_errors_read_as_postfixs_and_exit_75_leaving_nothing(relay, args, stdin, error):
    etc, store = relay
    done = sendmail(etc, *args, stdin=stdin)
    who = f"{pwd.getpwuid(os.getuid()).pw_name}({os.getuid()})"
    assert done.returncode == 75
    assert done.stderr.decode() == f"mailrelay/sendmail: fatal: {error.format(who=who)}\n"
    assert os.listdir(store.directory / "maildrop") == []


def test_an_unknown_option_is_a_usage_error(relay):
    etc, _ = relay
    done = sendmail(etc, "-Q")
    assert done.returncode == 75
    assert done.stderr.decode() == ("mailrelay/sendmail: invalid option -- 'Q'\n"
                                    "mailrelay/sendmail: fatal: usage: sendmail [options]\n")


def test_a_message_over_the_size_limit_is_refused(tmp_path):
    etc, store = make_relay(tmp_path, "message_size_limit = 1000\n")
    done = sendmail(etc, "bob@example.com", stdin=b"Subject: big\n\n" + (b"x" * 50 + b"\n") * 100)
    assert done.returncode == 75
    assert done.stderr.decode().endswith(": message file too big\n")
    assert os.listdir(store.directory / "maildrop") == []


def test_sendmail_pokes_a_running_pickup(relay):
    etc, store = relay
    sock = bind_wakeup_socket(store.directory)
    try:
        assert sendmail(etc, "bob@example.com", stdin=b"Subject: x\n\n").returncode == 0
        assert sock.recv(8) == b"W"
    finally:
        sock.close()


# ---------------------------------------------------------------- -bs


#: Postfix 3.7.11's ``sendmail -bs`` with this input (queue ID aside).
BS_INPUT = (b"EHLO me\r\nMAIL FROM:<x@y.z>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
            b"Subject: bs\r\n\r\nhello\r\n.\r\nQUIT\r\n")
BS_DIALOGUE = (
    b"220 relay.corp.local ESMTP Postfix\r\n250-relay.corp.local\r\n250-PIPELINING\r\n"
    b"250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
    b"250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
    b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as MAILDROPID\r\n"
    b"221 2.0.0 Bye\r\n"
)
#: What Postfix queued for it: pickup's Received: above smtpd's.
BS_QUEUED = (
    b"Received: by relay.corp.local (Postfix, from userid UID)\r\n"
    b"\tid QUEUEID; DATE\r\n"
    b"Received: from me (localhost [127.0.0.1])\r\n"
    b"\tby relay.corp.local (Postfix) with ESMTP id MAILDROPID\r\n"
    b"\tfor <bob@example.com>; DATE\r\n"
    b"Subject: bs\r\nMessage-Id: <STAMP.QUEUEID@relay.corp.local>\r\nDate: DATE\r\n"
    b"From: x@y.z\r\n\r\nhello\r\n"
)


def test_bs_speaks_smtp_as_postfixs_stand_alone_smtpd(relay):
    etc, store = relay
    done = sendmail(etc, "-bs", stdin=BS_INPUT)
    assert done.returncode == 0, done.stderr
    found = re.search(rb"queued as (\w+)\r\n", done.stdout)
    assert found is not None
    maildrop_id = found.group(1).decode()
    assert done.stdout.replace(found.group(1), b"MAILDROPID") == BS_DIALOGUE
    [(queue_id, envelope, content)], log = pick_up(etc, store)
    want = BS_QUEUED.replace(b"UID", str(os.getuid()).encode())
    assert normalized(content, queue_id).replace(maildrop_id.encode(), b"MAILDROPID") == want
    assert envelope.sender == "x@y.z"
    assert [r.address for r in envelope.recipients] == ["bob@example.com"]
    assert log[0] == f"{queue_id}: uid={os.getuid()} from=<x@y.z>"


def test_bs_with_helo_and_two_recipients_writes_smtpds_other_received_form(relay):
    etc, store = relay
    stdin = (b"HELO me\r\nMAIL FROM:<x@y.z>\r\nRCPT TO:<bob@example.com>\r\n"
             b"RCPT TO:<carol@example.com>\r\nDATA\r\nSubject: bs2\r\n\r\nhello\r\n.\r\n"
             b"QUIT\r\n")
    done = sendmail(etc, "-bs", stdin=stdin)
    assert done.returncode == 0
    [(_, envelope, content)], _ = pick_up(etc, store)
    lines = content.split(b"\r\n")
    assert lines[2] == b"Received: from me (localhost [127.0.0.1])"
    assert re.fullmatch(rb"\tby relay.corp.local \(Postfix\) with SMTP id \w+;", lines[3])
    assert [r.address for r in envelope.recipients] == ["bob@example.com", "carol@example.com"]


def test_bs_queues_nothing_for_an_abandoned_transaction(relay):
    etc, store = relay
    done = sendmail(etc, "-bs", stdin=b"EHLO me\r\nMAIL FROM:<x@y.z>\r\nRCPT TO:<b@x>\r\n"
                                     b"DATA\r\nSubject: cut\r\n")
    assert done.returncode == 0
    assert os.listdir(store.directory / "maildrop") == []


# ---------------------------------------------------------------- an unprivileged user


def python_for_nobody() -> str:
    """An interpreter that user nobody may run (ours may live under /root, mode 0700)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info >= (3, 11)"],
                user="nobody", capture_output=True, timeout=30, check=False)
        except OSError:
            continue
        if probe.returncode == 0:
            return candidate
    pytest.skip("no Python 3.11 that user nobody can run")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run sendmail as nobody")
def test_an_unprivileged_user_submits_into_a_maildrop_root_created():
    top = Path(tempfile.mkdtemp(prefix="mailrelay-sendmail-"))
    try:
        os.chmod(top, 0o755)
        etc, store = make_relay(top)
        nobody = pwd.getpwnam("nobody")
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SOURCE, "TZ": "UTC"}
        done = subprocess.run(
            [python_for_nobody(), "-m", "mailrelay", "-c", str(etc), "sendmail",
             "bob@example.com"],
            input=b"Subject: from nobody\n\nhello\n", user=nobody.pw_uid, group=nobody.pw_gid,
            extra_groups=[], capture_output=True, timeout=60, env=env, cwd="/", check=False)
        assert (done.returncode, done.stderr) == (0, b"")
        [maildrop] = store.scan(Queue.MAILDROP)
        assert maildrop.uid == nobody.pw_uid
        [(queue_id, envelope, content)], log = pick_up(etc, store)
        assert envelope.sender == "nobody@corp.local"
        assert content.startswith(
            f"Received: by relay.corp.local (Postfix, from userid {nobody.pw_uid})".encode())
        assert log[0] == f"{queue_id}: uid={nobody.pw_uid} from=<nobody>"
    finally:
        shutil.rmtree(top)
