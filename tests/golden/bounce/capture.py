"""Capture the delivery status notifications of Postfix 3.7 (run as root; see README.md).

    python3 tests/golden/bounce/capture.py [ORACLE_DIR] [PHASE...]
    python3 tests/golden/bounce/capture.py [ORACLE_DIR] postconf   # the postconf-*.ref files

Sets up a private Postfix with ``/work/shared/tools/postfix-oracle`` (default directory
``/tmp/oracle-h3``, smtpd on 127.0.0.1:3200) whose relayhost is ``sink.py`` on 127.0.0.1:3201
(``dsn.example`` goes to 127.0.0.1:3202, which announces DSN).  Every case sends one message
with ``X-Hold: yes``, which a header_checks rule puts on hold, so that the queue file can be
read with ``postcat`` (envelope and content) before the message is released with
``postsuper -H``.  The notices come back through the relayhost into the sink; each is matched
to its case by ``X-Postfix-Queue-ID`` and written as ``CASE.N.eml`` (N counts from 1 in the
order the sink received them; the first lines are the sink's MAIL FROM/RCPT TO lines).
``CASE.json`` holds what the test needs to rebuild each notice: the main.cf settings added
to ``main.cf`` (the oracle's own, written here too) for the case's phase, the envelope
(parsed from ``postcat -e``, which is kept as well), the queue ID, and the log lines of the
original message.  ``CASE.orig`` is the queued content (CRLF line ends).  ``bounce.cf`` is
the template file of the "template" phase.  Phases are run in order, with ``postfix reload``
between them; the main.cf settings are made with ``postconf -e``.  Only loopback is used.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import re
import smtplib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ORACLE = "/work/shared/tools/postfix-oracle"
HERE = Path(__file__).resolve().parent
PORT = 3200
SINK_PORTS = ("3201", "3202:dsn")

TRANSPORT = """\
bad.example\terror:5.1.1 no such user
long.example\terror:5.1.1 this is a very long reason text that goes on and on so that the \
wrapping of the bounce text can be observed, with more words after the first wrap and even a \
third line of text
nospace.example\terror:5.1.1 \
averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryverylongwordwithoutspaces \
then some words
retry.example\tretry:4.4.1 try again later
dsn.example\tsmtp:[127.0.0.1]:3202
"""

BASE = [
    "transport_maps = texthash:$config_directory/transport",
    "header_checks = regexp:$config_directory/header_checks",
    "virtual_alias_maps = texthash:$config_directory/virtual",
    "smtpd_reject_unlisted_recipient = no",
    "delay_warning_time = 1s",
    "queue_run_delay = 1s",
    "minimal_backoff_time = 1s",
    "maximal_backoff_time = 2s",
]
VIRTUAL = """\
"x y"@alias.example\tbad@bad.example
alias@alias.example\tbad@bad.example
list@alias.example\tbad@bad.example, reject-list@x.example
"""

#: Phase name -> main.cf settings added to BASE for that phase.
PHASES = {
    "default": [],
    "classes": [
        "notify_classes = bounce, delay, 2bounce, resource, software",
        "bounce_notice_recipient = pm-bounce@example.org",
        "2bounce_notice_recipient = pm-2bounce@example.org",
        "delay_notice_recipient = pm-delay@example.org",
    ],
    "postmaster": ["notify_classes = bounce, delay, 2bounce, resource, software"],
    "size": ["bounce_size_limit = 1000"],
    "ascii": ["smtputf8_enable = no"],
    "template": ["bounce_template_file = $config_directory/bounce.cf",
                 "smtputf8_enable = no", "maximal_queue_lifetime = 3d",
                 "notify_classes = bounce, delay, resource, software"],
    "names": ["mail_name = Mailrelay", "myhostname = mx.corp.local",
              "maximal_queue_lifetime = 3d"],
}

HEADERS = (b"From: Alice <alice@example.org>\r\nTo: undisclosed-recipients:;\r\n"
           b"X-Hold: yes\r\nMessage-ID: <NAME@example.org>\r\nSubject: NAME\r\n\r\n")
BODY = b"Hello.\r\nSecond line.\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    phase: str
    sender: str
    #: (address, RCPT parameters)
    recipients: tuple[tuple[str, tuple[str, ...]], ...]
    mail_options: tuple[str, ...] = ()
    body: bytes = BODY
    headers: bytes = HEADERS
    #: Seconds to wait after the release (delay warnings need a queue run or two).
    wait: float = 4.0
    extra: dict[str, str] = field(default_factory=dict)


def rcpt(*addresses: str, params: tuple[str, ...] = ()) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((a, params) for a in addresses)


def filler(size: int) -> bytes:
    """Body lines of 'x' with CRLF adding up to *size* octets (at least 2)."""
    lines = []
    while size > 0:
        n = min(size, 72)
        if size - n == 1:  # no line is 1 octet long: leave 3 for the last one
            n -= 1
        lines.append(b"x" * (n - 2) + b"\r\n")
        size -= n
    return b"".join(lines)


ALICE = "alice@example.org"
SUCC = ("NOTIFY=SUCCESS",)
CASES = [
    Case("failure-error-transport", "default", ALICE, rcpt("bad@bad.example")),
    Case("failure-long-reason", "default", ALICE,
         rcpt("user@long.example", "averyveryveryveryveryverylonglocalpartthatneedsroom"
              "forwrapping@long.example", "user@nospace.example")),
    Case("failure-smtp-reply", "default", ALICE, rcpt("reject@x.example")),
    Case("failure-mixed", "default", ALICE,
         rcpt("bad@bad.example", "reject@x.example", "ok@x.example")),
    Case("failure-notify", "default", ALICE,
         (("never@bad.example", ("NOTIFY=NEVER",)), ("success@bad.example", SUCC),
          ("delay@bad.example", ("NOTIFY=DELAY",)), ("failure@bad.example", ("NOTIFY=FAILURE",)),
          ("none@bad.example", ()),
          ("all@bad.example", ("NOTIFY=SUCCESS,DELAY,FAILURE",)))),
    Case("failure-notify-never", "default", ALICE,
         rcpt("never@bad.example", params=("NOTIFY=NEVER",))),
    Case("failure-ret-hdrs", "default", ALICE,
         rcpt("bad@bad.example", params=("NOTIFY=FAILURE", "ORCPT=rfc822;orig@example.net")),
         mail_options=("RET=HDRS", "ENVID=envid-123")),
    Case("failure-ret-full", "default", ALICE,
         rcpt("bad@bad.example", params=("ORCPT=rfc822;Orig+2B@example.net",)),
         mail_options=("RET=FULL", "ENVID=QUEUE+2Bid")),
    Case("failure-expanded", "default", ALICE, rcpt("alias@alias.example", "list@alias.example")),
    Case("failure-8bit", "default", ALICE, rcpt("bad@bad.example"),
         mail_options=("BODY=8BITMIME",), body="Grüße aus Köln.\r\n".encode()),
    Case("failure-smtputf8", "default", "älice@exämple.org", rcpt("bäd@bad.example"),
         mail_options=("SMTPUTF8", "BODY=8BITMIME"), body="Grüße.\r\n".encode()),
    Case("failure-null-sender", "default", "", rcpt("bad@bad.example")),
    Case("failure-quoted-sender", "default", '"john doe"@example.org', rcpt("bad@bad.example")),
    Case("failure-no-body", "default", ALICE, rcpt("bad@bad.example"), body=b""),
    Case("failure-large", "default", ALICE, rcpt("bad@bad.example"), body=filler(60000)),
    Case("delay-retry", "default", ALICE, rcpt("slow@retry.example")),
    Case("delay-smtp-reply", "default", ALICE,
         rcpt("defer@x.example", "bad@bad.example", "slow@retry.example"),
         mail_options=("RET=HDRS",)),
    Case("delay-notify-failure", "default", ALICE,
         rcpt("slow@retry.example", params=("NOTIFY=FAILURE",))),
    Case("success-relayed", "default", ALICE, rcpt("ok@x.example", params=SUCC)),
    Case("success-dsn-nexthop", "default", ALICE, rcpt("ok@dsn.example", params=SUCC)),
    Case("success-and-failure", "default", ALICE,
         rcpt("ok@x.example", "bad@bad.example", params=("NOTIFY=SUCCESS,FAILURE",)),
         mail_options=("RET=HDRS",)),
    Case("failure-7bit", "default", ALICE, rcpt("bad@bad.example"), mail_options=("BODY=7BIT",)),
    Case("failure-smtputf8-ascii-sender", "default", ALICE,
         rcpt("bäd@bad.example", "bad@bad.example"), mail_options=("SMTPUTF8",)),
    Case("failure-smtputf8-ascii", "default", ALICE, rcpt("bad@bad.example"),
         mail_options=("SMTPUTF8",)),
    Case("failure-smtputf8-hdrs", "default", "älice@exämple.org", rcpt("bäd@bad.example"),
         mail_options=("SMTPUTF8", "RET=HDRS")),
    Case("failure-quoted-recipient", "default", ALICE,
         rcpt('"john doe"@bad.example', '"x y"@alias.example')),
    Case("delay-ret-full", "default", ALICE, rcpt("slow@retry.example"),
         mail_options=("RET=FULL",)),
    Case("delay-null-sender", "default", "", rcpt("slow@retry.example")),
    Case("success-ret-full", "default", ALICE, rcpt("ok@x.example", params=SUCC),
         mail_options=("RET=FULL", "ENVID=e1")),
    Case("success-null-sender", "default", "", rcpt("ok@x.example", params=SUCC)),
    Case("classes-failure", "classes", ALICE, rcpt("bad@bad.example", "reject@x.example")),
    Case("classes-null-sender", "classes", "", rcpt("bad@bad.example")),
    Case("classes-double-bounce-sender", "classes", "double-bounce@relay.corp.local",
         rcpt("bad@bad.example")),
    Case("classes-notify-never", "classes", ALICE,
         rcpt("never@bad.example", params=("NOTIFY=NEVER",))),
    Case("classes-delay", "classes", ALICE, rcpt("slow@retry.example")),
    Case("classes-delay-null-sender", "classes", "", rcpt("slow@retry.example")),
    Case("classes-success-null-sender", "classes", "", rcpt("ok@x.example", params=SUCC)),
    Case("postmaster-failure", "postmaster", ALICE, rcpt("bad@bad.example")),
    Case("postmaster-null-sender", "postmaster", "", rcpt("bad@bad.example")),
    Case("postmaster-delay", "postmaster", ALICE, rcpt("slow@retry.example")),
    Case("size-below", "size", ALICE, rcpt("bad@bad.example")),
    Case("size-at", "size", ALICE, rcpt("bad@bad.example")),
    Case("size-above", "size", ALICE, rcpt("bad@bad.example")),
    Case("size-headers-above", "size", ALICE, rcpt("bad@bad.example"),
         headers=HEADERS.replace(b"X-Hold", b"X-Long1: " + b"y" * 600 + b"\r\nX-Long2: "
                                 + b"z" * 600 + b"\r\nX-Hold")),
    Case("ascii-failure", "ascii", ALICE, rcpt("bad@bad.example")),
    Case("ascii-8bit", "ascii", ALICE, rcpt("bad@bad.example"),
         mail_options=("BODY=8BITMIME",), body="Grüße aus Köln.\r\n".encode()),
    Case("ascii-delay", "ascii", ALICE, rcpt("slow@retry.example")),
    Case("ascii-7bit", "ascii", ALICE, rcpt("bad@bad.example"), mail_options=("BODY=7BIT",)),
    Case("template-failure", "template", ALICE, rcpt("bad@bad.example")),
    Case("template-delay", "template", ALICE, rcpt("slow@retry.example")),
    Case("template-success", "template", ALICE, rcpt("ok@x.example", params=SUCC)),
    Case("names-delay", "names", ALICE, rcpt("slow@retry.example"), wait=6.0),
    Case("names-failure", "names", ALICE, rcpt("bad@bad.example")),
]


def oracle(directory: str, *args: str) -> None:
    subprocess.run([ORACLE, directory, *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


def postfix(directory: str, *args: str) -> str:
    done = subprocess.run([*args[:1], "-c", f"{directory}/etc", *args[1:]], check=True,
                          capture_output=True)
    return done.stdout.decode("utf-8", "surrogateescape")


def message(case: Case) -> bytes:
    return case.headers.replace(b"NAME", case.name.encode()) + case.body


def sized(directory: str, case: Case) -> Case:
    """The size cases: a body that makes Postfix's queued size hit the limit exactly.

    A probe message is queued and measured (smtpd adds Received:, cleanup adds Date:), then
    deleted; the real message gets the remaining octets as filler lines.
    """
    target = {"size-below": 999, "size-at": 1000, "size-above": 1001}.get(case.name)
    if target is None:
        return case
    probe = send(case)
    size = len(held(directory, probe)[1])
    postfix(directory, "postsuper", "-d", probe)
    return Case(**{**case.__dict__, "body": case.body + filler(target - size)})


def send(case: Case) -> str:
    with smtplib.SMTP("127.0.0.1", PORT) as client:
        client.ehlo("client.example")
        code, text = client.mail(case.sender, list(case.mail_options))
        assert code == 250, (code, text)
        for address, params in case.recipients:
            code, text = client.rcpt(address, list(params))
            assert code == 250, (address, code, text)
        code, text = client.data(message(case))
        assert code == 250, (code, text)
    match = re.search(rb"queued as (\w+)", text)
    assert match, text
    return match.group(1).decode()


def held(directory: str, queue_id: str) -> tuple[str, bytes]:
    envelope = postfix(directory, "postcat", "-e", "-q", queue_id)
    content = subprocess.run(["postcat", "-c", f"{directory}/etc", "-bh", "-q", queue_id],
                             check=True, capture_output=True).stdout
    return envelope, content.replace(b"\n", b"\r\n")


def parse_envelope(text: str) -> dict[str, object]:
    env: dict[str, object] = {"sender": "", "dsn_ret": "", "dsn_envid": "", "recipients": [],
                              "smtputf8": False, "body_type": ""}
    pending: dict[str, object] = {}
    recipients: list[dict[str, object]] = []
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        value = value.strip()
        if name == "message_size":  # the sixth field holds the SMTPUTF8 flags
            env["smtputf8"] = bool(int(value.split()[5]) & 1)
        elif name == "message_arrival_time":
            env["arrival_time"] = calendar.timegm(time.strptime(value, "%a %b %d %H:%M:%S %Y"))
        elif name == "sender":
            env["sender"] = value
        elif name == "named_attribute":
            key, _, val = value.partition("=")
            if key == "envelope_id":
                env["dsn_envid"] = val
            elif key == "ret_flags":
                env["dsn_ret"] = {"1": "FULL", "2": "HDRS"}[val]
            elif key == "notify_flags":
                pending["notify"] = int(val)
            elif key == "dsn_orig_rcpt":
                pending["orcpt"] = val
            elif key == "encoding":
                env["body_type"] = "8BITMIME" if val == "8bit" else "7BIT"
        elif name == "original_recipient":
            pending["original"] = value
        elif name == "recipient":
            recipients.append({"address": value, "notify": 0, "orcpt": "", "original": "",
                               **pending})
            pending = {}
    env["recipients"] = recipients
    env["postcat"] = text
    return env


def notice_origin(path: Path) -> str:
    match = re.search(rb"^X-[^:]+-Queue-ID: (\w+)", path.read_bytes(), re.M)
    return match.group(1).decode() if match else ""


def run_phase(directory: str, phase: str, sink: Path) -> None:
    cases = [c for c in CASES if c.phase == phase]
    # postconf -e replaces a setting in place: a main.cf that names a parameter twice makes
    # every Postfix program log a warning, and postlogd, still starting, can deadlock on it.
    postfix(directory, "postconf", "-e", *BASE, *PHASES[phase])
    time.sleep(1.2)
    postfix(directory, "postfix", "reload")
    time.sleep(1.5)
    ids: dict[str, Case] = {}
    for case in cases:
        case = sized(directory, case)
        queue_id = send(case)
        ids[queue_id] = case
        envelope, content = held(directory, queue_id)
        print(f"{case.name}: {queue_id}, queued size {len(content)}")
        (HERE / f"{case.name}.orig").write_bytes(content)
        (HERE / f"{case.name}.json").write_text(json.dumps({
            "phase": phase, "settings": BASE + PHASES[phase], "queue_id": queue_id,
            "envelope": parse_envelope(envelope)}, indent=1, ensure_ascii=False) + "\n")
    seen = set(sink.iterdir())
    postfix(directory, "postsuper", "-H", "ALL")
    time.sleep(max(c.wait for c in cases))
    counters: dict[str, int] = {}
    for path in sorted(set(sink.iterdir()) - seen):
        case = ids.get(notice_origin(path))
        if case is None:
            continue
        counters[case.name] = counters.get(case.name, 0) + 1
        (HERE / f"{case.name}.{counters[case.name]}.eml").write_bytes(path.read_bytes())
    log = Path(directory, "maillog").read_text("utf-8", "surrogateescape").splitlines()
    for queue_id, case in ids.items():
        data = json.loads((HERE / f"{case.name}.json").read_text())
        data["log"] = [line.split("]: ", 1)[1] for line in log
                       if f": {queue_id}: " in line and "]: " in line]
        data["notices"] = counters.get(case.name, 0)
        (HERE / f"{case.name}.json").write_text(
            json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    with contextlib.suppress(subprocess.CalledProcessError):
        postfix(directory, "postsuper", "-d", "ALL")


def capture_postconf(directory: str) -> None:
    """postconf -t, -b and -b bounce.cf for main.cf plus two time settings (see README.md)."""
    conf = Path(directory)
    conf.mkdir(exist_ok=True)
    (conf / "main.cf").write_text((HERE / "main.cf").read_text() + "delay_warning_time = 90m\n"
                                  "maximal_queue_lifetime = 13d\n")
    (conf / "bounce.cf").write_text((HERE / "bounce.cf").read_text())
    for name, args in (("postconf-t", ["-t"]), ("postconf-b", ["-b"]),
                       ("postconf-b-file", ["-b", str(conf / "bounce.cf")])):
        done = subprocess.run(["postconf", "-c", str(conf), *args], capture_output=True,
                              check=True)
        (HERE / f"{name}.ref").write_bytes(done.stdout)
        if args != ["-t"]:
            (HERE / f"{name}.stderr.ref").write_bytes(done.stderr)


def main(argv: list[str]) -> None:
    directory = argv[0] if argv else "/tmp/oracle-h3"
    phases = argv[1:] or list(PHASES)
    if phases == ["postconf"]:
        capture_postconf(f"{directory}-tpl")
        return
    with contextlib.suppress(subprocess.CalledProcessError):
        oracle(directory, "stop")
    oracle(directory, "init", str(PORT), "[127.0.0.1]:3201")
    etc = Path(directory, "etc")
    (etc / "transport").write_text(TRANSPORT)
    (etc / "virtual").write_text(VIRTUAL)
    (etc / "header_checks").write_text("/^X-Hold: yes/ HOLD\n")
    (etc / "bounce.cf").write_text((HERE / "bounce.cf").read_text())
    sink = Path(directory, "sink")
    sink.mkdir(exist_ok=True)
    for old in sink.iterdir():  # the sink numbers its files from 0001 again
        old.unlink()
    server = subprocess.Popen([sys.executable, str(HERE / "sink.py"), str(sink), *SINK_PORTS])
    try:
        time.sleep(0.5)
        main_cf = (etc / "main.cf").read_text()
        (HERE / "main.cf").write_text(main_cf)
        oracle(directory, "start")
        for phase in phases:
            (etc / "main.cf").write_text(main_cf)
            run_phase(directory, phase, sink)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            oracle(directory, "stop")
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
