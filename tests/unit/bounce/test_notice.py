"""Who gets which notice, and what it lists: the rules the golden cases showed, one by one."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from bounce_support import oracle_settings as settings

from mailrelay.bounce.notice import (
    Notice,
    NoticeEntry,
    NoticeKind,
    build_notice,
    build_postmaster_copy,
    notice_recipients,
    postmaster_copy_recipients,
)
from mailrelay.bounce.settings import BounceSettings
from mailrelay.queue.record import Envelope, Notify, Recipient

FAILURE, DELAY, SUCCESS = NoticeKind.FAILURE, NoticeKind.DELAY, NoticeKind.SUCCESS
CONTENT = b"Subject: hi\r\nFrom: a@example.org\r\n\r\nbody line\r\n"
ALL_CLASSES = "notify_classes = bounce, delay, 2bounce, resource, software\n"


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def entry(address: str, status: str = "5.1.1", action: str = "failed",
          reason: str = "no such user", **kw: object) -> NoticeEntry:
    return NoticeEntry(address, f"rfc822;{address}", "", status, action, reason, **kw)  # type: ignore[arg-type]


def envelope(sender: str = "alice@example.org", *notify: tuple[str, Notify],
             **kw: object) -> Envelope:
    recipients = tuple(Recipient(a, f"rfc822;{a}", n) for a, n in notify)
    return Envelope(sender, recipients or (Recipient("bad@bad.example"),), 1795564261.0,
                    **kw)  # type: ignore[arg-type]


def build(kind: NoticeKind, env: Envelope, entries: list[NoticeEntry],
          s: BounceSettings | None = None, content: bytes = CONTENT,
          copy: bool = False) -> Notice | None:
    function = build_postmaster_copy if copy else build_notice
    return function(kind, s or settings(), queue_id="4ABCD", envelope=env, entries=entries,
                    content=content, now=1795564262.0, message_id="<m@x>", notice_queue_id="4N")


def listed(notice: Notice | None) -> list[str]:
    assert notice is not None
    return re.findall(r"^Final-Recipient: rfc822; (.*)\r$", notice.content.decode(), re.M)


def returned(notice: Notice | None) -> str:
    assert notice is not None
    return notice.content.decode().split("\r\n--4ABCD.")[-2]


NOTIFY_CASES = [
    ("never", Notify.NEVER), ("success", Notify.SUCCESS), ("delay", Notify.DELAY),
    ("failure", Notify.FAILURE), ("none", Notify.NONE),
    ("all", Notify.SUCCESS | Notify.DELAY | Notify.FAILURE),
]


@pytest.mark.parametrize(("kind", "wanted"), [
    (FAILURE, ["failure", "none", "all"]),
    (DELAY, ["delay", "none", "all"]),
    (SUCCESS, ["success", "all"]),
])
def test_a_notice_lists_the_recipients_whose_notify_asks_for_it(
        kind: NoticeKind, wanted: list[str]) -> None:
    env = envelope("alice@example.org", *((f"{n}@x.example", f) for n, f in NOTIFY_CASES))
    entries = [entry(f"{n}@x.example") for n, _ in NOTIFY_CASES]
    assert listed(build(kind, env, entries)) == [f"{n}@x.example" for n in wanted]


def test_no_recipient_asking_means_no_notice() -> None:
    env = envelope("alice@example.org", ("never@x", Notify.NEVER))
    assert build(FAILURE, env, [entry("never@x")]) is None
    assert build(FAILURE, envelope(), []) is None


def test_an_entry_may_carry_its_own_notify() -> None:
    env = envelope("alice@example.org", ("a@x", Notify.NEVER))
    assert listed(build(FAILURE, env, [entry("a@x", notify=Notify.FAILURE)])) == ["a@x"]
    assert build(FAILURE, envelope(), [entry("a@x", notify=Notify.NEVER)]) is None


def test_the_notice_goes_to_the_sender_from_the_null_sender() -> None:
    notice = build(FAILURE, envelope("john doe@example.org"), [entry("bad@bad.example")])
    assert notice is not None
    assert (notice.sender, notice.recipients) == ("", ("john doe@example.org",))
    assert b'\r\nTo: "john doe"@example.org\r\n' in notice.content
    assert b"\r\nAuto-Submitted: auto-replied\r\n" in notice.content


def test_a_failure_of_a_notice_is_dropped_unless_2bounce_is_a_notify_class() -> None:
    assert notice_recipients(FAILURE, settings(), "") == ()
    assert build(FAILURE, envelope(""), [entry("bad@bad.example")]) is None


def test_a_double_bounce_goes_to_the_postmaster_with_everything() -> None:
    s = settings(ALL_CLASSES)
    env = envelope("", ("never@x", Notify.NEVER))
    notice = build(FAILURE, env, [entry("never@x")], s)
    assert notice is not None
    assert notice.sender == "double-bounce@relay.corp.local"
    assert notice.recipients == ("postmaster@corp.local",)
    assert listed(notice) == ["never@x"]  # NOTIFY does not count for the postmaster
    text = notice.content.decode()
    assert "\r\nSubject: Postmaster Copy: Undelivered Mail\r\n" in text
    assert "\r\nAuto-Submitted: auto-generated\r\n" in text
    assert "I'm sorry" not in text
    assert "Content-Type: message/rfc822\r\n" in text
    assert "\r\nReturn-Path: <MAILER-DAEMON@relay.corp.local>\r\n" in text


def test_a_notice_is_never_delayed_to_the_null_sender_or_to_anybody_for_it() -> None:
    s = settings(ALL_CLASSES)
    assert notice_recipients(DELAY, s, "") == ()
    assert postmaster_copy_recipients(DELAY, s, "") == ()
    assert build(DELAY, envelope(""), [entry("slow@x", "4.4.1", "delayed")], s) is None


def test_a_success_for_the_null_sender_goes_to_2bounce_in_the_normal_form() -> None:
    assert notice_recipients(SUCCESS, settings(), "") == ()
    s = settings(ALL_CLASSES + "2bounce_notice_recipient = pm@example.org\n")
    env = envelope("", ("ok@x", Notify.SUCCESS))
    notice = build(SUCCESS, env, [entry("ok@x", "2.0.0", "relayed", "250 Ok")], s)
    assert notice is not None
    assert notice.recipients == ("pm@example.org",)
    assert b"\r\nSubject: Successful Mail Delivery Report\r\n" in notice.content


def test_mail_from_the_double_bounce_address_gets_nothing() -> None:
    s = settings(ALL_CLASSES)
    for kind in NoticeKind:
        assert notice_recipients(kind, s, "Double-Bounce@relay.corp.local") == ()
        assert postmaster_copy_recipients(kind, s, "double-bounce@relay.corp.local") == ()


def test_postmaster_copies_need_their_notify_class() -> None:
    assert postmaster_copy_recipients(FAILURE, settings(), "alice@example.org") == ()
    s = settings("notify_classes = bounce, delay\ndelay_notice_recipient = pm-delay\n")
    assert postmaster_copy_recipients(FAILURE, s, "alice@example.org") == (
        "postmaster@corp.local",)
    assert postmaster_copy_recipients(DELAY, s, "alice@example.org") == (
        "pm-delay@corp.local",)
    assert postmaster_copy_recipients(SUCCESS, s, "alice@example.org") == ()


def test_a_postmaster_copy_lists_everyone_and_returns_headers_only() -> None:
    s = settings(ALL_CLASSES)
    env = envelope("alice@example.org", ("never@x", Notify.NEVER))
    notice = build(FAILURE, env, [entry("never@x")], s, copy=True)
    assert notice is not None
    assert (notice.sender, notice.recipients) == (
        "double-bounce@relay.corp.local", ("postmaster@corp.local",))
    assert listed(notice) == ["never@x"]
    assert "Content-Type: text/rfc822-headers" in returned(notice)
    assert "body line" not in returned(notice)


def test_ret_hdrs_returns_the_header_section_only() -> None:
    notice = build(FAILURE, envelope(dsn_ret="HDRS"), [entry("bad@bad.example")])
    assert returned(notice).splitlines()[1:] == [
        "Content-Description: Undelivered Message Headers",
        "Content-Type: text/rfc822-headers", "Content-Transfer-Encoding: 8bit", "",
        "Return-Path: <alice@example.org>", "Subject: hi", "From: a@example.org"]


@pytest.mark.parametrize(("limit", "whole"), [(len(CONTENT), True), (len(CONTENT) - 1, False)])
def test_a_message_above_bounce_size_limit_is_returned_as_headers(
        limit: int, whole: bool) -> None:
    s = settings(f"bounce_size_limit = {limit}\n")
    part = returned(build(FAILURE, envelope(), [entry("bad@bad.example")], s))
    assert ("Content-Type: message/rfc822" in part) is whole
    assert ("body line" in part) is whole


@pytest.mark.parametrize("kind", [DELAY, SUCCESS])
def test_delay_and_success_notices_return_headers_whatever_ret_says(kind: NoticeKind) -> None:
    env = envelope("alice@example.org", ("a@x", Notify.DELAY | Notify.SUCCESS), dsn_ret="FULL")
    part = returned(build(kind, env, [entry("a@x")]))
    assert "text/rfc822-headers" in part
    assert "body line" not in part


def test_entries_are_listed_in_the_order_given_with_their_own_results() -> None:
    entries = [entry("reject@x.example", diagnostic="smtp; 550 5.1.1 unknown",
                     remote_mta="dns; mx.x.example",
                     reason="host mx.x.example[192.0.2.1] said: 550 5.1.1 unknown"),
               entry("bad@bad.example")]
    notice = build(FAILURE, envelope(), entries)
    assert listed(notice) == ["reject@x.example", "bad@bad.example"]
    assert notice is not None
    text = notice.content.decode()
    assert ("\r\n<reject@x.example>: host mx.x.example[192.0.2.1] said: 550 5.1.1 unknown\r\n"
            "\r\n<bad@bad.example>: no such user\r\n") in text
    assert ("Remote-MTA: dns; mx.x.example\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n"
            in text)
    assert "Diagnostic-Code: X-Postfix; no such user\r\n" in text


def test_an_8bit_original_makes_an_8bit_notice_even_without_smtputf8() -> None:
    s = settings("smtputf8_enable = no\n")
    plain = build(FAILURE, envelope(), [entry("bad@bad.example")], s)
    eight = build(FAILURE, envelope(body_type="8BITMIME"), [entry("bad@bad.example")], s)
    assert plain is not None and eight is not None
    assert (plain.body_type, eight.body_type) == ("", "8BITMIME")
    assert b"charset=us-ascii\r\n\r\n" in plain.content
    assert b"Content-Transfer-Encoding" not in plain.content
    assert b"charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n" in eight.content


def test_an_smtputf8_original_gets_the_global_types() -> None:
    env = envelope("älice@exämple.org", ("bäd@x", Notify.NONE), smtputf8=True)
    notice = build(FAILURE, env, [entry("bäd@x")])
    assert notice is not None and notice.smtputf8
    text = notice.content.decode("utf-8", "surrogateescape")
    assert "Content-Type: message/global-delivery-status\r\nContent-Transfer-Encoding: 8bit" in text
    assert "Final-Recipient: utf-8; bäd@x\r\n" in text
    assert "Content-Type: message/global\r\n" in text


def test_a_delay_notice_says_until_when_it_is_retried() -> None:
    s = settings("maximal_queue_lifetime = 3d\n")
    notice = build(DELAY, envelope(), [entry("bad@bad.example", "4.4.1", "delayed")], s)
    assert notice is not None
    assert b"Will-Retry-Until: Fri, 27 Nov 2026 23:51:01 +0000 (UTC)\r\n" in notice.content
    assert b"It will be retried until it is 3 day(s) old." in notice.content


def test_a_success_notice_says_where_the_message_went() -> None:
    env = envelope("alice@example.org", ("ok@x", Notify.SUCCESS))
    notice = build(SUCCESS, env, [entry("ok@x", "2.0.0", "relayed", "250 2.0.0 Ok",
                                        relay="mx[192.0.2.1]:25")])
    assert notice is not None
    assert b"\r\n<ok@x>: delivery via mx[192.0.2.1]:25: 250 2.0.0 Ok\r\n" in notice.content
    assert b"Content-Description: Message Headers\r\n" in notice.content


def test_the_header_carries_the_callers_identifiers_and_the_boundary_names_the_message() -> None:
    notice = build(FAILURE, envelope(), [entry("bad@bad.example")])
    assert notice is not None
    head = notice.content.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("Received: by relay.corp.local (Postfix)\r\n\tid 4N; ")
    assert '\tboundary="4ABCD.1795564262/relay.corp.local"' in head
    assert head.endswith("\r\nMessage-Id: <m@x>")


def test_the_content_has_crlf_line_ends_only_and_ends_with_the_closing_boundary() -> None:
    notice = build(FAILURE, envelope(), [entry("bad@bad.example")],
                   content=b"Subject: x\r\n\r\nno final line end")
    assert notice is not None
    assert b"\n" not in notice.content.replace(b"\r\n", b"")
    assert notice.content.endswith(
        b"\r\nno final line end\r\n\r\n--4ABCD.1795564262/relay.corp.local--\r\n")
