"""The captured Postfix notices of tests/golden/bounce, as inputs to bounce and expected bytes.

For each case, the inputs are rebuilt from what Postfix knew *before* it wrote the notice:
the queue file (envelope and content, from postcat), the main.cf of that run, and the
delivery agents' results as the log lines record them (``to=<...>, relay=..., dsn=...,
status=... (reason)``).  The expected notices are the sink's files; their new queue ID,
Message-Id and the time in their boundary are passed in, as qmgr would choose them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailrelay.bounce.entry import NoticeEntry, NoticeKind
from mailrelay.bounce.settings import BounceSettings
from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.queue.record import Envelope, Notify, Recipient

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "bounce"

_DELIVERY = re.compile(
    r"^\w+: to=<(?P<to>.*?)>, (?:orig_to=<(?P<orig>.*?)>, )?relay=(?P<relay>\S+), .*"
    r"dsn=(?P<dsn>[\d.]+), status=(?P<status>\w+) \((?P<reason>.*)\)$")
_SAID = re.compile(r"^host \S+ said: (?P<reply>.*?)(?: \(in reply to .* command\))?$")
_ACTIONS = {"bounced": "failed", "deferred": "delayed", "sent": "relayed"}
_KINDS = {"bounced": NoticeKind.FAILURE, "deferred": NoticeKind.DELAY,
          "sent": NoticeKind.SUCCESS}


def case_names() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.json"))


def oracle_settings(extra: str = "") -> BounceSettings:
    """The settings of the oracle's main.cf with *extra* lines added."""
    text = (GOLDEN / "main.cf").read_text() + extra
    return BounceSettings.from_config(Config(parse_main_cf(text, "main.cf"), "/etc/x"))


def settings_for(case: dict[str, object]) -> BounceSettings:
    text = (GOLDEN / "main.cf").read_text()
    text += "".join(f"{line}\n" for line in case["settings"])  # type: ignore[attr-defined]
    config = Config(parse_main_cf(text, "main.cf"), "/tmp/oracle-h3/etc")
    template = None
    if config.get_str("bounce_template_file"):
        template = (GOLDEN / "bounce.cf").read_text()
    return BounceSettings.from_config(config, template)


def unquote(address: str) -> str:
    """The internal form of a logged address: ``"john doe"@x`` -> ``john doe@x``."""
    match = re.fullmatch(r'"((?:[^"\\]|\\.)*)"(@.*)?', address)
    if match is None:
        return address
    return re.sub(r"\\(.)", r"\1", match.group(1)) + (match.group(2) or "")


#: Postfix's dsn_mask.h bits, as postcat prints notify_flags, and mailrelay's flags.
_POSTFIX_NOTIFY = {1: Notify.NEVER, 2: Notify.SUCCESS, 4: Notify.FAILURE, 8: Notify.DELAY}


def notify(flags: int) -> Notify:
    out = Notify.NONE
    for bit, flag in _POSTFIX_NOTIFY.items():
        if flags & bit:
            out |= flag
    return out


def envelope_of(data: dict[str, object]) -> Envelope:
    env = data["envelope"]
    assert isinstance(env, dict)
    recipients = tuple(
        Recipient(r["address"], r["orcpt"], notify(r["notify"]), r["original"])
        for r in env["recipients"])
    return Envelope(env["sender"], recipients, float(env["arrival_time"]),
                    dsn_ret=env["dsn_ret"], dsn_envid=env["dsn_envid"],
                    body_type=env["body_type"], smtputf8=env["smtputf8"])


def entries_of(data: dict[str, object], envelope: Envelope) -> dict[NoticeKind, list[NoticeEntry]]:
    """The recipients each kind of notice is about: the first result per recipient."""
    found: dict[NoticeKind, list[NoticeEntry]] = {kind: [] for kind in NoticeKind}
    seen: set[tuple[str, str, str]] = set()
    for line in data["log"]:  # type: ignore[attr-defined]
        match = _DELIVERY.match(line)
        if match is None:
            continue
        address, original = unquote(match["to"]), unquote(match["orig"] or match["to"])
        if (address, original, match["status"]) in seen:
            continue
        seen.add((address, original, match["status"]))
        if match["status"] == "sent" and match["relay"].endswith(":3202"):
            continue  # that server announces DSN: Postfix's smtp passes NOTIFY on to it
        rcpt = next(r for r in envelope.recipients
                    if (r.address, r.original) == (address, original))
        found[_KINDS[match["status"]]].append(_entry(match, rcpt))
    return found


def _entry(match: re.Match[str], rcpt: Recipient) -> NoticeEntry:
    """The result an agent reports: Postfix's smtp gives Remote-MTA and Diagnostic-Code."""
    relay, reason = match["relay"], match["reason"]
    remote = diagnostic = ""
    if relay != "none":
        remote = "dns; " + relay.partition("[")[0]
        said = _SAID.match(reason)
        diagnostic = "smtp; " + (said["reply"] if said else reason)
    return NoticeEntry(
        address=rcpt.address, orcpt=rcpt.orcpt, original=rcpt.original,
        status=match["dsn"], action=_ACTIONS[match["status"]], reason=reason,
        diagnostic=diagnostic, remote_mta=remote,
        relay=relay if match["status"] == "sent" else "")


@dataclass(frozen=True)
class Expected:
    """One captured notice: the sink's envelope and the message as Postfix wrote it."""

    name: str
    mail_from: str
    mail_params: tuple[str, ...]
    rcpt_to: str
    content: bytes

    @property
    def now(self) -> float:
        return float(self._search(rb'boundary="\w+\.(\d+)/'))

    @property
    def message_id(self) -> str:
        return self._search(rb"\r\nMessage-Id: (<.*?>)\r\n")

    @property
    def notice_queue_id(self) -> str:
        return self._search(rb"^Received: by \S+ \(\S+\)\r\n\tid (\w+);")

    @property
    def postmaster_copy(self) -> bool:
        return b"\r\nAuto-Submitted: auto-generated\r\n" in self.content

    def _search(self, pattern: bytes) -> str:
        match = re.search(pattern, self.content)
        assert match is not None, pattern
        return match.group(1).decode()


def expected_notices(name: str) -> Iterator[Expected]:
    for path in sorted(GOLDEN.glob(f"{name}.*.eml")):
        head, _, content = path.read_bytes().partition(b"\r\n\r\n")
        mail, *rcpts = head.decode("utf-8", "surrogateescape").split("\r\n")
        sender = mail.partition("<")[2].partition(">")[0]
        params = tuple(mail.partition(">")[2].split())
        assert len(rcpts) == 1
        yield Expected(path.name, sender, params,
                       rcpts[0].partition("<")[2].partition(">")[0], content)


def load(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((GOLDEN / f"{name}.json").read_text())
    return data


def original(name: str) -> bytes:
    return (GOLDEN / f"{name}.orig").read_bytes()
