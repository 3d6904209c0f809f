"""Every notice Postfix 3.7 sent in tests/golden/bounce, rebuilt byte for byte.

For each captured case, all three kinds of notice and their postmaster copies are built
from the case's inputs (bounce_support); the ones that are not None must be exactly the
notices Postfix sent -- same envelope, same bytes -- and no others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from bounce_support import (
    Expected,
    case_names,
    entries_of,
    envelope_of,
    expected_notices,
    load,
    original,
    settings_for,
    unquote,
)

from mailrelay.bounce.notice import Notice, NoticeKind, build_notice, build_postmaster_copy
from mailrelay.bounce.settings import BounceSettings


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The oracle ran in UTC: dates are local time, as Postfix's are."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


Build = Callable[..., "Notice | None"]


def _identify(want: Expected, settings: BounceSettings, sender: str) -> tuple[NoticeKind, Build]:
    """Which kind of notice *want* is (by its Subject:) and which function writes it."""
    subject = want.content.split(b"\r\nSubject: ")[1].split(b"\r\n")[0].decode()
    kind = next(k for k in NoticeKind if subject in (
        settings.templates.of(k.value).subject, settings.templates.of(k.value).postmaster_subject))
    copy = want.postmaster_copy and sender != ""
    return kind, build_postmaster_copy if copy else build_notice


@pytest.mark.parametrize("name", case_names())
def test_bounce_writes_the_notices_postfix_wrote(name: str) -> None:
    data = load(name)
    settings = settings_for(data)
    envelope = envelope_of(data)
    entries = entries_of(data, envelope)
    args = {"queue_id": str(data["queue_id"]), "envelope": envelope, "content": original(name)}
    unsent = {(kind, build) for kind in NoticeKind
              for build in (build_notice, build_postmaster_copy)}
    for want in expected_notices(name):
        kind, build = _identify(want, settings, envelope.sender)
        unsent.discard((kind, build))
        notice = build(kind, settings, entries=entries[kind], now=want.now,
                       message_id=want.message_id, notice_queue_id=want.notice_queue_id, **args)
        assert notice is not None, want.name
        assert (notice.sender, notice.recipients) == (want.mail_from, (unquote(want.rcpt_to),))
        assert ("BODY=8BITMIME" in want.mail_params) == (notice.body_type == "8BITMIME")
        assert ("SMTPUTF8" in want.mail_params) == notice.smtputf8
        got, exp = (c.decode("utf-8", "surrogateescape").split("\r\n")
                    for c in (notice.content, want.content))
        assert got == exp, want.name
        assert notice.content == want.content, want.name
    for kind, build in unsent:
        notice = build(kind, settings, entries=entries[kind], now=0.0, message_id="<x>", **args)
        assert notice is None, (kind, build.__name__)


def test_the_golden_cases_cover_every_kind_of_notice() -> None:
    subjects = {e.content.split(b"\r\nSubject: ")[1].split(b"\r\n")[0]
                for name in case_names() for e in expected_notices(name)}
    assert {b"Undelivered Mail Returned to Sender", b"Delayed Mail (still being retried)",
            b"Successful Mail Delivery Report", b"Postmaster Copy: Undelivered Mail",
            b"Postmaster Warning: Delayed Mail"} <= subjects


def test_kinds_are_postfix_template_names() -> None:
    assert [k.value for k in NoticeKind] == ["failure", "delay", "success"]
