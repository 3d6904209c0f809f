"""Every dialogue captured from Postfix 3.7 (tests/golden/policy/cases.json), replayed
through the policy stages: the same replies and the same log lines.

Each case ran against its own smtpd service (see tests/golden/policy/README.md).  Here the
case's settings go into main.cf, and the commands are walked through as smtpd would: each
command that Postfix answered from its restrictions must get the same reply from the
matching stage, each command Postfix accepted must be accepted, and the restriction log
lines (``NOQUEUE: reject: ...``, ``reject_warning``, ``hold``...) must be the same, in order.
Replies that come from the protocol engine rather than the restrictions (``503 5.5.1 Error:
need MAIL command``, ``221 ... I can break rules, too``) are not the policy's business.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from policy_support import ORACLE_MAIN_CF, config

from mailrelay.policy import PeerStatus, PolicySettings, Request, Verdict
from mailrelay.policy import stages as st
from mailrelay.policy.verdict import access_denied_reply

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "policy"
CASES: list[dict[str, Any]] = json.loads((GOLDEN / "cases.json").read_text())
_spec = importlib.util.spec_from_file_location("oracle_cases", GOLDEN / "oracle_cases.py")
assert _spec is not None and _spec.loader is not None
oracle_cases = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("oracle_cases", oracle_cases)  # dataclasses look their module up
_spec.loader.exec_module(oracle_cases)

#: The trivial-rewrite service some cases use, as main.cf settings.
SERVICES = {"rewrite_nohacks": {"allow_percent_hack": "no", "swap_bangpath": "no"}}
_POLICY_LOG = re.compile(
    r"^(?:\w+: (?:reject|reject_warning|hold|discard|filter|redirect|bcc|warn|info|permit): "
    r"|warning: (?:unknown smtpd restriction|specify one of)|mapping DSN status)")
_QUEUE_ID = re.compile(r"^[0-9A-F]{6,}:")


def case_settings(case: dict[str, Any], tmp_path: Path) -> PolicySettings:
    for name, text in oracle_cases.FILES.items():
        (tmp_path / name).write_text(text)
    lines = [ORACLE_MAIN_CF, *(line + "\n" for line in oracle_cases.GLOBAL_SETTINGS)]
    values = dict(case["settings"])
    if case["untrusted"]:
        values.setdefault("mynetworks", "192.0.2.0/24")
    values.update(SERVICES.get(values.pop("rewrite_service_name", ""), {}))
    lines += [f"{k} = {v}\n" for k, v in values.items()]
    return PolicySettings.from_config(config("", base="".join(lines),
                                             config_directory=str(tmp_path)))


def policy_log(lines: list[str]) -> list[str]:
    return [_QUEUE_ID.sub("QUEUEID:", line) for line in lines if _POLICY_LOG.match(line)]


@dataclass
class Session:
    """What smtpd knows at each command, and what the stages said."""

    settings: PolicySettings
    request: Request
    rcpts: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    denied: bool = False
    in_data: bool = False

    def run(self, stage: Any, **changes: Any) -> Verdict:
        result = stage(self.settings, replace(self.request, **changes))
        assert isinstance(result, Verdict), "no DNS is involved in captured cases"
        self.log += [str(line) for line in result.log]
        return result

    def command(self, cmd: str, reply: str) -> str | None:
        """The reply the policy gives (None: the policy accepts / has no say)."""
        verb = cmd.split(" ", 1)[0].upper().split(":")[0]
        if self.denied and verb not in ("QUIT", "(CONNECT)"):
            return str(access_denied_reply(self.request.namaddr()))
        handler = getattr(self, f"do_{verb.strip('()').lower()}", None)
        return handler(cmd, reply) if handler else None

    def do_connect(self, cmd: str, reply: str) -> str | None:
        self.request = replace(self.request, helo=None, protocol="SMTP", sender=None)
        verdict = self.run(st.client_stage)
        self.denied = not verdict.accepted
        return None if verdict.accepted else str(verdict.reply)

    def do_ehlo(self, cmd: str, reply: str) -> str | None:
        name = cmd.split(" ", 1)[1]
        verdict = self.run(st.helo_stage, helo=name, command=cmd.split(" ")[0].upper())
        if not verdict.accepted:
            return str(verdict.reply)
        proto = "ESMTP" if cmd.upper().startswith("EHLO") else "SMTP"
        self.request = replace(self.request, helo=name, protocol=proto)
        return None

    do_helo = do_ehlo

    def do_mail(self, cmd: str, reply: str) -> str | None:
        sender = cmd[cmd.index("<") + 1:cmd.rindex(">")]
        verdict = self.run(st.sender_stage, sender=sender)
        if not verdict.accepted:
            return str(verdict.reply)
        self.request = replace(self.request, sender=sender, queue_id=None)
        self.rcpts = []
        return None

    def do_rset(self, cmd: str, reply: str) -> str | None:
        self.request = replace(self.request, sender=None, queue_id=None, recipient=None)
        self.rcpts = []
        return None

    def do_rcpt(self, cmd: str, reply: str) -> str | None:
        if self.request.sender is None:
            return None
        recipient = cmd[cmd.index("<") + 1:cmd.rindex(">")]
        recipient = recipient.split(":", 1)[1] if recipient.startswith("@") else recipient
        recipient = recipient.replace('"', "")
        verdict = self.run(st.recipient_stage, recipient=recipient, rcpt_count=len(self.rcpts))
        if not verdict.accepted:
            return str(verdict.reply)
        self.rcpts.append(recipient)
        self.request = replace(self.request, recipient=recipient, queue_id="QUEUEID")
        return None

    def do_data(self, cmd: str, reply: str) -> str | None:
        if not self.rcpts:
            return None
        verdict = self.run(st.data_stage, rcpt_count=len(self.rcpts),
                           improper_pipelining=self.request.improper_pipelining)
        self.in_data = verdict.accepted
        return None if verdict.accepted else str(verdict.reply)

    def do_message(self, cmd: str, reply: str) -> str | None:
        if not self.in_data:
            return None
        self.in_data = False
        verdict = self.run(st.end_of_data_stage, rcpt_count=len(self.rcpts))
        return None if verdict.accepted else str(verdict.reply)


POLICY_CASES = [c for c in CASES if not c["id"].startswith("anvil-")]


@pytest.mark.parametrize("case", POLICY_CASES, ids=[c["id"] for c in POLICY_CASES])
def test_the_policy_answers_every_command_as_postfix_did(case: dict[str, Any],
                                                         tmp_path: Path) -> None:
    session = Session(case_settings(case, tmp_path), Request(
        "127.0.0.1", "localhost", "localhost", PeerStatus.OK, PeerStatus.OK))
    # The one case where the client pipelines without PIPELINING (after HELO, not EHLO).
    improper = case["id"] == "data-unauth-pipelining"
    session.request = replace(session.request, improper_pipelining=improper)
    for cmd, reply in case["dialogue"]:
        ours = session.command(cmd, reply)
        postfix_refused = reply[:1] in "45" and not reply.startswith("(")
        if ours is not None:
            assert ours == reply, f"{cmd!r}"
        elif postfix_refused:
            assert _protocol_reply(reply), f"{cmd!r}: Postfix refused with {reply!r}"
    assert policy_log(session.log) == policy_log(case["log"])


def _protocol_reply(reply: str) -> bool:
    """Replies of the protocol engine, not of the restrictions."""
    return reply.startswith(("503 5.5.1 Error: need", "221 2.7.0", "503 5.5.1 Error: send"))
