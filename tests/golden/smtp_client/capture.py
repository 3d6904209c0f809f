"""Show Postfix's smtp(8) the scripted servers of the smtp agent's tests; record what it did.

Usage (as root, with a private Postfix from ``/work/shared/tools/postfix-oracle``)::

    postfix-oracle /tmp/oracle-h1 init 3100 '[127.0.0.1]:3101'
    postconf -c /tmp/oracle-h1/etc -e 'smtp_helo_timeout = 2s' ... (see README.md)
    postfix-oracle /tmp/oracle-h1 start
    python3 tests/golden/smtp_client/capture.py /tmp/oracle-h1 [scenario...]

For each scenario the scripted server of ``tests/unit/delivery/smtp_server_support.py``
listens on 127.0.0.1:3101 (the oracle's relayhost), a message goes into the oracle's smtpd
on port 3100 (swaks, or smtplib for the DSN parameters), and the commands the server saw
plus the ``to=<...>`` status lines and other smtp(8) log lines are stored in
``scenarios.json`` next to this file.  Scenarios with TLS settings set them with
``postconf -e`` and reload first, then put the defaults back.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1] / "unit" / "delivery"))

from smtp_server_support import ScriptedServer  # noqa: E402

NO_PIPELINING = ["SIZE 10240000", "8BITMIME"]
TWO = ["a@example.com", "b@example.com"]
THREE = ["good@example.com", "bad@example.com", "bad2@example.com"]
DSN_CLIENT = """
import smtplib
s = smtplib.SMTP("127.0.0.1", 3100); s.ehlo("client.test")
s.sendmail("sender@corp.local", ["rcpt@example.com"], b"Subject: dsn\\r\\n\\r\\nbody\\r\\n",
           mail_options=["RET=HDRS", "ENVID=abc+2Bdef=x"],
           rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig+2Bx@example.com"])
s.quit()
"""
NEVER_CLIENT = """
import smtplib
s = smtplib.SMTP("127.0.0.1", 3100); s.ehlo("client.test")
s.sendmail("sender@corp.local", ["rcpt@example.com"], b"Subject: dsn\\r\\n\\r\\nbody\\r\\n",
           mail_options=["RET=FULL"], rcpt_options=["NOTIFY=NEVER"])
s.quit()
"""
#: name -> (server script or None for "nothing listens", recipients, client program, wait)
SCENARIOS: dict[str, tuple[dict[str, Any] | None, list[str], str, float]] = {
    "delivered": ({}, ["rcpt@example.com"], "", 3),
    "delivered-two-recipients": ({}, TWO, "", 3),
    "no-pipelining": ({"ehlo_keywords": NO_PIPELINING}, TWO, "", 3),
    "mail-4xx": ({"mail": "451 4.3.0 Try later"}, ["rcpt@example.com"], "", 3),
    "mail-5xx": ({"mail": "553 5.7.1 Sender rejected"}, ["rcpt@example.com"], "", 3),
    "mail-5xx-data-503": ({"mail": "553 5.7.1 Sender rejected",
                           "rcpt": "503 5.5.1 Error: need MAIL command",
                           "data": "503 5.5.1 Error: need RCPT command"}, TWO, "", 3),
    "mail-5xx-no-pipelining": ({"mail": "550 5.1.0 Sender rejected",
                                "ehlo_keywords": NO_PIPELINING}, TWO, "", 3),
    "mail-3xx": ({"mail": "354 what"}, ["rcpt@example.com"], "", 3),
    "rcpt-4xx": ({"rcpt": "450 4.2.0 <rcpt@example.com>: Recipient address rejected: "
                          "Greylisted"}, ["rcpt@example.com"], "", 3),
    "rcpt-5xx": ({"rcpt": "550 5.1.1 <rcpt@example.com>: User unknown"},
                 ["rcpt@example.com"], "", 3),
    "rcpt-mixed": ({"rcpt:bad@example.com": "550 5.1.1 <bad@example.com>: Recipient address "
                                            "rejected: User unknown",
                    "rcpt:bad2@example.com": "450 4.1.1 <bad2@example.com>: try later"},
                   THREE, "", 3),
    "rcpt-all-rejected": ({"rcpt": "550 5.1.1 Recipient address rejected",
                           "data": "554 5.5.1 Error: no valid recipients"}, TWO, "", 3),
    "rcpt-all-rejected-no-pipelining": ({"rcpt": "550 5.1.1 Recipient address rejected",
                                         "ehlo_keywords": NO_PIPELINING}, TWO, "", 3),
    "rcpt-421": ({"rcpt": "421 4.4.2 closing"}, ["rcpt@example.com"], "", 3),
    "rcpt-multiline": ({"rcpt": "550-5.1.1 first line\n550-5.1.1 second line\n"
                                "550 5.1.1 third line"}, ["rcpt@example.com"], "", 3),
    "rcpt-garbage-line": ({"rcpt": "550-first\ngarbage here\n550 5.1.1 last"},
                          ["rcpt@example.com"], "", 3),
    "rcpt-no-enhanced-code": ({"rcpt": "550 User unknown"}, ["rcpt@example.com"], "", 3),
    "mail-4xx-no-enhanced-code": ({"mail": "452 Too many"}, ["rcpt@example.com"], "", 3),
    "data-4xx": ({"data": "451 4.3.0 Data not now"}, ["rcpt@example.com"], "", 3),
    "data-5xx": ({"data": "554 5.5.1 No valid recipients"}, ["rcpt@example.com"], "", 3),
    "data-250": ({"data": "250 2.0.0 what"}, ["rcpt@example.com"], "", 3),
    "dot-4xx": ({"dot": "451 4.3.0 Queue full"}, ["rcpt@example.com"], "", 3),
    "dot-5xx": ({"dot": "554 5.7.1 Spam rejected"}, ["rcpt@example.com"], "", 3),
    "dot-no-enhanced-code": ({"dot": "250 Ok queued"}, ["rcpt@example.com"], "", 3),
    "greeting-421": ({"greeting": "421 4.3.2 Service shutting down"}, ["rcpt@example.com"],
                     "", 3),
    "greeting-554": ({"greeting": "554 5.7.1 No SMTP service here"}, ["rcpt@example.com"],
                     "", 3),
    "greeting-drop": ({"greeting": "DROP"}, ["rcpt@example.com"], "", 3),
    "greeting-silence": ({"greeting": "SILENCE"}, ["rcpt@example.com"], "", 4),
    "ehlo-5xx-helo-fallback": ({"ehlo": "502 5.5.2 Error: command not recognized"},
                               ["rcpt@example.com"], "", 3),
    "ehlo-421": ({"ehlo": "421 4.7.0 Too busy"}, ["rcpt@example.com"], "", 3),
    "ehlo-5xx-helo-5xx": ({"ehlo": "502 5.5.2 Error: command not recognized",
                           "helo": "550 5.7.1 Go away"}, ["rcpt@example.com"], "", 3),
    "ehlo-drop": ({"ehlo": "DROP"}, ["rcpt@example.com"], "", 3),
    "mail-silence": ({"mail": "SILENCE"}, ["rcpt@example.com"], "", 4),
    "rcpt-drop": ({"rcpt": "DROP"}, ["rcpt@example.com"], "", 3),
    "data-silence": ({"data": "SILENCE"}, ["rcpt@example.com"], "", 4),
    "dot-silence": ({"dot": "SILENCE"}, ["rcpt@example.com"], "", 4),
    "dot-drop": ({"dot": "DROP"}, ["rcpt@example.com"], "", 3),
    "size-limit": ({"ehlo_keywords": ["PIPELINING", "SIZE 100", "8BITMIME"]},
                   ["rcpt@example.com"], "", 3),
    "connection-refused": (None, ["rcpt@example.com"], "", 3),
    "dsn-parameters": ({}, ["rcpt@example.com"], DSN_CLIENT, 3),
    "dsn-never": ({}, ["rcpt@example.com"], NEVER_CLIENT, 3),
    "dsn-never-without-dsn-support": ({"ehlo_keywords": ["PIPELINING", "SIZE 10240000",
                                                         "8BITMIME"]},
                                      ["rcpt@example.com"], NEVER_CLIENT, 3),
}
TLS_KEYWORDS = ["PIPELINING", "STARTTLS", "8BITMIME"]
#: Scenarios that need main.cf settings: name -> (script, settings, defer first).  With
#: "defer first" the message is deferred once (nothing listens), then flushed a few seconds
#: later, so that it has waited longer than minimal_backoff_time.
TLS_SCENARIOS: dict[str, tuple[dict[str, Any], list[str], bool]] = {
    "tls-encrypt-not-offered": ({"ehlo_keywords": ["PIPELINING"]},
                                ["smtp_tls_security_level = encrypt"], False),
    "tls-encrypt-starttls-refused": ({"ehlo_keywords": TLS_KEYWORDS,
                                      "starttls": "454 4.7.0 TLS not available"},
                                     ["smtp_tls_security_level = encrypt"], False),
    "tls-may-starttls-refused": ({"ehlo_keywords": TLS_KEYWORDS,
                                  "starttls": "454 4.7.0 TLS not available"},
                                 ["smtp_tls_security_level = may"], False),
    "tls-may-handshake-failure": ({"ehlo_keywords": TLS_KEYWORDS, "after_starttls": "DROP"},
                                  ["smtp_tls_security_level = may"], False),
    "tls-may-handshake-failure-old-mail": (
        {"ehlo_keywords": TLS_KEYWORDS, "after_starttls": "DROP"},
        ["smtp_tls_security_level = may", "minimal_backoff_time = 1s",
         "maximal_backoff_time = 2s"], True),
}
STATUS = re.compile(r"postfix/smtp\[\d+\]: (\w+): to=<([^>]+)>, relay=([^,]+), "
                    r"(?:conn_use=\d+, )?delay=[^,]+, delays=[^,]+, dsn=([^,]+), "
                    r"status=(\w+) \((.*)\)$")


async def command(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await asyncio.wait_for(process.wait(), 30)


async def configure(etc: str, settings: list[str]) -> None:
    await command("postconf", "-c", etc, "-e", *settings)
    await asyncio.sleep(1.2)  # Postfix ignores a main.cf younger than a second
    await command("postfix", "-c", etc, "reload")
    await asyncio.sleep(1)


async def capture(oracle: Path, name: str) -> dict[str, Any]:
    settings: list[str] = []
    defer_first = False
    if name in TLS_SCENARIOS:
        script, settings, defer_first = TLS_SCENARIOS[name]
        recipients, client, wait = ["rcpt@example.com"], "", 3.0
    else:
        script, recipients, client, wait = SCENARIOS[name]
    etc = str(oracle / "etc")
    if settings:
        await configure(etc, settings)
    await command("postsuper", "-c", etc, "-d", "ALL")
    server = ScriptedServer(script)
    if script is not None and not defer_first:
        await server.start(3101)
    maillog = oracle / "maillog"
    before = maillog.stat().st_size
    if client:
        await command(sys.executable, "-c", client)
    else:
        await command("swaks", "--server", "127.0.0.1:3100", "--from", "sender@corp.local",
                      "--to", ",".join(recipients))
    if defer_first:
        await asyncio.sleep(3)
        before = maillog.stat().st_size
        await server.start(3101)
        await command("postqueue", "-c", etc, "-f")
    await asyncio.sleep(wait)
    await server.stop()
    await command("postsuper", "-c", etc, "-d", "ALL")
    if settings:
        await configure(etc, ["smtp_tls_security_level =", "minimal_backoff_time = 300s",
                              "maximal_backoff_time = 4000s"])
    with maillog.open("rb") as log:
        log.seek(before)
        lines = log.read().decode("utf-8", "replace").splitlines()
    results, texts, queue_ids = {}, [], set()
    for line in lines:
        if "postfix/smtp[" not in line:
            continue
        match = STATUS.search(line)
        if match:
            queue_id, address, relay, dsn, status, reason = match.groups()
            if address != "sender@corp.local":  # not the bounce Postfix sent back
                queue_ids.add(queue_id)
                results[address] = {"relay": relay, "dsn": dsn, "status": status,
                                    "reason": reason}
        else:
            texts.append(line.split("]: ", 1)[1])
    notes, bounce = [], False
    for text in texts:
        found = re.search(r"^(?:warning: )?([0-9A-F]{8,}): ", text)
        if found:
            bounce = found.group(1) not in queue_ids
        if not bounce:  # lines without a queue ID belong with the line before them
            notes.append(re.sub(r"^(warning: )?[0-9A-F]{8,}: ", r"\1{queue_id}: ", text))
    commands = [c for session in server.sessions for c in [*session.commands, "<close>"]]
    return {"server": script, "recipients": recipients, "settings": settings,
            "commands": commands[:-1], "results": results, "log": notes}


async def main(oracle: Path, names: list[str]) -> None:
    path = HERE / "scenarios.json"
    found = json.loads(path.read_text()) if path.exists() else {}
    for name in names or [*SCENARIOS, *TLS_SCENARIOS]:
        found[name] = await capture(oracle, name)
        print(name, json.dumps(found[name]["results"])[:150], flush=True)
    path.write_text(json.dumps(found, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2:]))
