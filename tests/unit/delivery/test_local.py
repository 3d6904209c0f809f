"""The local transport: aliases, users, Maildir files and loop control, checked against the
texts and files Postfix 3.7's local(8) produced (tests/golden/local)."""

from __future__ import annotations

import asyncio
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.delivery.local import (
    Forward,
    LocalAgent,
    LocalSettings,
    alias_targets,
    delivered_to,
)
from mailrelay.maps.indexed import compile_source
from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult, Status
from mailrelay.queue.record import Client, Envelope, Recipient

GOLDEN = Path(__file__).parents[2] / "golden" / "local"
MESSAGE = b"From: a@corp.local\r\nSubject: test\r\n\r\nbody\r\n.\r\n"
ALIASES = """\
fwd someone@remote.example
multi someone@remote.example, Other@Remote.Example, someone@remote.example
bare root
listx someone@remote.example
owner-listx root
pipe "|/bin/cat"
file /var/tmp/file
inc :include:/etc/mail/list
mixed admin@remote.example, "|/usr/bin/procmail"
daemon daemon, admin@remote.example
empty ,
"""


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.spool = tmp_path / "mail"
        self.forwards: list[Forward] = []
        self.logged: list[str] = []
        self.forward_error: OSError | None = None
        (tmp_path / "aliases").write_text(ALIASES)
        self.main_cf = (
            "myhostname = relay.corp.local\nmydomain = corp.local\nmyorigin = $mydomain\n"
            f"mail_spool_directory = {self.spool}/\n"
            f"alias_maps = texthash:{tmp_path}/aliases\n"
            "recipient_delimiter = +\n")

    async def forward(self, message: Forward) -> str:
        if self.forward_error is not None:
            raise self.forward_error
        self.forwards.append(message)
        return f"4NEW{len(self.forwards)}"

    def agent(self, extra: str = "") -> LocalAgent:
        config = Config(parse_main_cf(self.main_cf + extra, "main.cf"), "/etc/postfix")
        return LocalAgent.from_config(config, self.logged.append, self.forward)

    def deliver(self, *addresses: str, sender: str = "sender@corp.local",
                content: bytes = MESSAGE, extra: str = "", original: str = "",
                ) -> list[RecipientResult]:
        agent = self.agent(extra)
        envelope = Envelope(sender, tuple(Recipient(a) for a in addresses), 0.0, Client())
        request = DeliveryRequest(
            "4ABCD", "local", "localhost", sender,
            tuple(DeliveryRecipient(i, a, original=original) for i, a in enumerate(addresses)),
            envelope, size=len(content))

        async def main() -> list[RecipientResult]:
            try:
                return await agent.deliver(request, content)
            finally:
                await agent.close()

        return asyncio.run(main())

    def mailbox(self, user: str = "root") -> list[bytes]:
        new = self.spool / user / "new"
        return [(new / name).read_bytes() for name in sorted(os.listdir(new))]


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Harness]:
    yield Harness(tmp_path)


def outcome(results: list[RecipientResult]) -> list[tuple[Status, str, str]]:
    assert all(r.relay == "local" for r in results)
    return [(r.status, r.dsn, r.reason) for r in results]


SENT_TO_MAILDIR = (Status.SENT, "2.0.0", "delivered to maildir")


# -- mailboxes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("golden", "sender", "recipient"), [
    ("maildir-golden.eml", "Sender@Corp.Local", "Root@LocalHost"),
    ("maildir-null-sender.eml", "", "root@localhost"),
])
def test_the_maildir_file_is_byte_for_byte_what_postfix_writes(
        local: Harness, golden: str, sender: str, recipient: str) -> None:
    expected = (GOLDEN / golden).read_bytes()
    queued = expected.split(b"\n", 3)[3].replace(b"\n", b"\r\n")  # without local's 3 headers
    assert outcome(local.deliver(recipient, sender=sender, content=queued)) == [SENT_TO_MAILDIR]
    assert local.mailbox() == [expected]


def test_the_original_recipient_and_the_extension_show_in_the_headers(local: Harness) -> None:
    results = local.deliver("root+foo@localhost", original="postmaster@corp.local")
    assert outcome(results) == [SENT_TO_MAILDIR]
    assert local.mailbox()[0].startswith(
        b"Return-Path: <sender@corp.local>\nX-Original-To: postmaster@corp.local\n"
        b"Delivered-To: root+foo@localhost\nFrom: a@corp.local\n")


def test_without_enable_original_recipient_there_is_no_x_original_to(local: Harness) -> None:
    local.deliver("root@localhost", extra="enable_original_recipient = no\n")
    assert local.mailbox()[0].startswith(
        b"Return-Path: <sender@corp.local>\nDelivered-To: root@localhost\n")


def test_home_mailbox_puts_the_maildir_in_the_home_directory(local: Harness) -> None:
    root = pwd.getpwnam("root")
    home = local.tmp / "home"
    entry = pwd.struct_passwd((root.pw_name, "x", root.pw_uid, root.pw_gid, "", str(home),
                               "/bin/sh"))
    config = Config(parse_main_cf(local.main_cf + "home_mailbox = Maildir/\n", "main.cf"),
                    "/etc/postfix")
    agent = LocalAgent(LocalSettings.from_config(config), local.logged.append, local.forward,
                       users={"root": entry}.__getitem__)  # root's home is elsewhere here
    envelope = Envelope("s@x", (Recipient("root@localhost"),), 0.0, Client())
    request = DeliveryRequest("4A", "local", "localhost", "s@x",
                              (DeliveryRecipient(0, "root@localhost"),), envelope, size=1)
    results = asyncio.run(agent.deliver(request, MESSAGE))
    assert outcome(results) == [SENT_TO_MAILDIR]
    assert len(os.listdir(home / "Maildir" / "new")) == 1


def test_unknown_users_bounce_with_the_folded_name_without_extension(local: Harness) -> None:
    results = local.deliver("nosuchuser@localhost", "NoSuchUser+ext@localhost",
                            "odd user@localhost")
    assert outcome(results) == [
        (Status.BOUNCED, "5.1.1", 'unknown user: "nosuchuser"'),
        (Status.BOUNCED, "5.1.1", 'unknown user: "nosuchuser"'),
        (Status.BOUNCED, "5.1.1", 'unknown user: "odd user"'),
    ]


def test_mbox_delivery_is_a_configuration_error_that_defers(local: Harness) -> None:
    results = local.deliver("root@localhost", extra=f"mail_spool_directory = {local.spool}\n")
    assert outcome(results) == [(Status.DEFERRED, "4.3.0", "mail system configuration error")]
    assert "mbox delivery is not supported" in local.logged[0]


def test_an_unwritable_maildir_bounces_with_postfix_text(local: Harness) -> None:
    local.spool.mkdir()
    (local.spool / "root").write_text("an mbox file\n")
    [result] = local.deliver("root@localhost")
    assert (result.status, result.dsn) == (Status.BOUNCED, "5.2.0")
    assert result.reason.startswith(f"maildir delivery failed: create maildir file "
                                    f"{local.spool}/root/tmp/")
    assert result.reason.endswith(": Not a directory")


def test_a_message_over_mailbox_size_limit_bounces(local: Harness) -> None:
    results = local.deliver("root@localhost", extra="mailbox_size_limit = 50\n")
    assert outcome(results) == [(Status.BOUNCED, "5.2.2",
                                 "maildir delivery failed: error writing message: File too large")]


# -- loops ---------------------------------------------------------------------------------


def test_a_delivered_to_header_for_the_recipient_is_a_forwarding_loop(local: Harness) -> None:
    content = b"Received: x\r\nDelivered-To: other@x\r\nDelivered-To: ROOT@Localhost\r\n\r\nb\r\n"
    results = local.deliver("root@localhost", "root+x@localhost", content=content)
    assert outcome(results) == [
        (Status.BOUNCED, "5.4.6", "mail forwarding loop for root@localhost"), SENT_TO_MAILDIR]


def test_delivered_to_in_the_body_or_folded_headers_is_read_as_postfix_does() -> None:
    content = (b"Subject: x\r\nDelivered-To:\r\n\tfolded@x\r\n\r\n"
               b"Delivered-To: body@x\r\n")
    assert delivered_to(content) == frozenset({"folded@x"})


# -- aliases -------------------------------------------------------------------------------


def test_an_alias_forwards_one_message_with_delivered_to_prepended(local: Harness) -> None:
    results = local.deliver("fwd@localhost")
    assert outcome(results) == [(Status.SENT, "2.0.0", "forwarded as 4NEW1")]
    assert local.forwards == [Forward(
        "sender@corp.local", ("someone@remote.example",),
        b"Delivered-To: fwd@localhost\r\n" + MESSAGE, "4ABCD", "fwd@localhost")]


def test_an_alias_to_several_addresses_is_one_message_without_duplicates(local: Harness) -> None:
    local.deliver("Multi+tag@LOCALHOST")
    [message] = local.forwards
    assert message.recipients == ("someone@remote.example", "Other@Remote.Example")
    assert message.content.startswith(b"Delivered-To: Multi+tag@LOCALHOST\r\n")
    assert message.original_recipient == "Multi+tag@LOCALHOST"


def test_bare_names_in_an_alias_get_myorigin(local: Harness) -> None:
    local.deliver("bare@localhost")
    assert local.forwards[0].recipients == ("root@corp.local",)


def test_an_owner_alias_becomes_the_sender_and_drops_the_original(local: Harness) -> None:
    local.deliver("listx@localhost")
    [message] = local.forwards
    assert (message.sender, message.original_recipient) == ("owner-listx@corp.local", "")


def test_an_alias_that_names_itself_also_delivers_to_the_mailbox(local: Harness) -> None:
    results = local.deliver("daemon@localhost")
    assert outcome(results) == [(Status.SENT, "2.0.0", "forwarded as 4NEW1")]
    assert len(local.mailbox("daemon")) == 1
    assert local.forwards[0].recipients == ("admin@remote.example",)


@pytest.mark.parametrize(("alias", "text"), [
    ("pipe", "delivery to commands is not supported by mailrelay"),
    ("file", "delivery to files is not supported by mailrelay"),
    ("inc", "delivery to :include: files is not supported by mailrelay"),
    ("mixed", "delivery to commands is not supported by mailrelay"),
])
def test_commands_files_and_includes_are_refused(local: Harness, alias: str, text: str) -> None:
    assert outcome(local.deliver(f"{alias}@localhost")) == [(Status.BOUNCED, "5.3.0", text)]
    assert local.forwards == []


def test_an_alias_without_addresses_defers_as_an_unavailable_database(local: Harness) -> None:
    results = local.deliver("empty@localhost")
    assert outcome(results) == [(Status.DEFERRED, "4.3.0", "alias database unavailable")]
    assert local.logged == ["warning: no recipient in alias lookup result for empty"]


def test_a_table_that_cannot_answer_defers(local: Harness) -> None:
    results = local.deliver("root@localhost", extra="alias_maps = fail:aliases\n")
    assert outcome(results) == [(Status.DEFERRED, "4.3.0", "alias database unavailable")]


def test_a_table_that_cannot_be_opened_defers_every_recipient(local: Harness) -> None:
    results = local.deliver("root@localhost", "fwd@localhost",
                            extra=f"alias_maps = hash:{local.tmp}/missing\n")
    assert outcome(results) == [(Status.DEFERRED, "4.3.0", "alias database unavailable")] * 2
    assert local.logged[0].startswith("warning: alias_maps: ")


def test_the_default_nis_table_is_skipped_and_compiled_tables_work(local: Harness) -> None:
    source = local.tmp / "compiled"
    source.write_text("fwd someone@remote.example\n")
    compile_source("hash", str(source), source.read_bytes(), local.logged.append)
    results = local.deliver("fwd@localhost",
                            extra=f"alias_maps = hash:{source}, nis:mail.aliases\n")
    assert outcome(results) == [(Status.SENT, "2.0.0", "forwarded as 4NEW1")]


def test_a_failing_forward_defers(local: Harness) -> None:
    local.forward_error = OSError(28, "No space left on device")
    results = local.deliver("fwd@localhost")
    assert outcome(results) == [(Status.DEFERRED, "4.3.0", "queue file write error")]


def test_alias_values_are_parsed_as_address_lists() -> None:
    assert alias_targets('a, "b c"@x, D <d@y>,e') == ["a", "b c@x", "d@y", "e"]
