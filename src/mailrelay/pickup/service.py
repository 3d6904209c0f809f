"""pickup(8): every maildrop file, through cleanup, into a new file in incoming.

SECURITY: reads untrusted files from the world-writable maildrop and writes the queue (through
QueueStore only); binds ``public/pickup`` (mode 0666: any local user may wake it up).  A
maildrop file is never renamed into incoming: its envelope is decoded and rebuilt from the
fields a submitter may set (sender, recipients, NOTIFY/ORCPT, ENVID, RET, BODY, full name,
rewriting context) and its content passes through cleanup into a new file, as Postfix's
pickup does.  Client, protocol and SASL attributes in the file are ignored, so that a local
user cannot pretend to be a remote client.  The submitting user is the file's owner, which the
kernel vouches for, never a number written inside the file.  A file that cannot be decoded or
read, or whose addresses hold control characters, is moved to corrupt with a warning: never
deleted silently, never a crash.

Theory of operation
-------------------
:func:`pickup_once` takes the maildrop files oldest first.  For each, it opens and decodes
the file, runs cleanup (pickup's ``Received: by HOST (Postfix, from userid UID)``, then the
missing Message-Id:, Date: and From:, the latter with the full name), commits a new queue file
into incoming (durable when commit returns), logs Postfix's two lines and only then removes
the maildrop file.  The arrival time is the maildrop file's mtime, as Postfix's pickup uses it
(one in the future becomes now, so that no one can extend a message's queue lifetime).

Crash window, accepted as Postfix accepts it: a crash after the commit and before the maildrop
file is removed leaves the message in both places, and it is queued twice at the next run (a
duplicate, never a loss).  Closing it would need a record of picked-up maildrop IDs that
survives a crash, checked against every queue (the message may already have moved on or been
delivered): a cost on every message for a window of one unlink.

:func:`run_pickup` is the service: one run at start, one per datagram on ``public/pickup``
(``mailrelay sendmail`` sends one, see :func:`wake_pickup`; several are coalesced) and one every
*interval* seconds, until *stop* is set.  File work runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mailrelay.cleanup.content_checks import Outcome
from mailrelay.cleanup.headers import Arrival, pickup_received_header
from mailrelay.cleanup.message import Cleaned, cleanup, filter_attributes, split_headers
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.cleanup.submission import (
    FULL_NAME_ATTRIBUTE,
    REWRITE_CONTEXT_ATTRIBUTE,
    envelope_recipient,
)
from mailrelay.config.model import Config
from mailrelay.queue import trigger
from mailrelay.queue.queuefile import QueuedMessage
from mailrelay.queue.record import Client, Envelope, QueueFileError, Recipient
from mailrelay.queue.store import MessageNotFound, Queue, QueueStore

if TYPE_CHECKING:  # sendmail imports this module (wake_pickup): no lmdb, no agents for it
    from mailrelay.bounce.settings import BounceSettings

#: The wake-up socket, relative to the queue directory (Postfix: a FIFO of the same name).
PICKUP_SOCKET = trigger.PICKUP
WAKEUP = trigger.WAKEUP
_BODY_TYPES = frozenset({"", "7BIT", "8BITMIME"})
_DSN_RET = frozenset({"", "FULL", "HDRS"})
_DAY = 86400.0

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class PickupSettings:
    #: cleanup's settings (message_drop_headers included: cleanup drops those fields).
    cleanup: CleanupSettings
    #: ``message_size_limit`` (0: none); sendmail refuses more, so a larger file was forged.
    message_size_limit: int = 0
    #: bounce(8)'s, for a submission header_checks or body_checks REJECT (None: such a
    #: file is moved to corrupt instead).
    bounce: BounceSettings | None = None

    @classmethod
    def from_config(cls, config: Config, log: Log | None = None) -> PickupSettings:
        """*log* gets the bounce template's warnings (bounce logs them)."""
        from mailrelay.qmgr.notices import bounce_settings

        return cls(CleanupSettings.from_config(config), config.get_int("message_size_limit"),
                   bounce_settings(config, log or (lambda _line: None)))


@dataclass(frozen=True, slots=True)
class _Logs:
    """Each line under the program Postfix logs it as: pickup, cleanup, bounce."""

    pickup: Log
    cleanup: Log
    bounce: Log

    @classmethod
    def of(cls, log: Log, programs: Callable[[str], Log] | None) -> _Logs:
        if programs is None:
            return cls(log, log, log)
        return cls(log, programs("cleanup"), programs("bounce"))


class _Refused(Exception):
    """A maildrop file whose envelope pickup will not take."""


@dataclass(frozen=True, slots=True)
class _Submission:
    envelope: Envelope
    full_name: str
    local_context: bool


def pickup_once(store: QueueStore, settings: PickupSettings | CleanupSettings,
                log: Log, programs: Callable[[str], Log] | None = None) -> list[str]:
    """Move every maildrop file into incoming; returns the new queue IDs, in order.

    *log* is pickup's log; *programs* (``MailLog.logger``) gives cleanup's and bounce's, for
    the lines Postfix logs under those names (else they go to *log*)."""
    logs = _Logs.of(log, programs)
    if isinstance(settings, CleanupSettings):
        settings = PickupSettings(settings)
    try:
        files = sorted(store.scan(Queue.MAILDROP), key=lambda s: (s.mtime, s.queue_id))
    except OSError as exc:
        log(f"warning: cannot scan the maildrop queue: {exc}")
        return []
    picked = []
    for found in files:
        queue_id = _pick_up(store, settings, logs, found.queue_id)
        if queue_id is not None:
            picked.append(queue_id)
    return picked


def _pick_up(store: QueueStore, settings: PickupSettings, logs: _Logs,
             maildrop_id: str) -> str | None:
    log = logs.pickup
    try:
        message = store.open(Queue.MAILDROP, maildrop_id)
    except MessageNotFound:
        return None  # removed or moved meanwhile
    except (QueueFileError, PermissionError) as exc:
        _quarantine(store, log, maildrop_id, str(exc))
        return None
    except OSError as exc:
        log(f"warning: maildrop/{maildrop_id}: {exc}")
        return None
    with message:
        try:
            if settings.message_size_limit and message.size > settings.message_size_limit:
                raise _Refused("message file too big")
            submission = _submission(message.envelope)
            content = message.read_content()
        except (QueueFileError, _Refused, OSError) as exc:
            _quarantine(store, log, maildrop_id, str(exc))
            return None
        try:
            queue_id = _enqueue(store, settings, logs, message, submission, content)
        except ValueError as exc:  # the envelope or content cannot be stored
            _quarantine(store, log, maildrop_id, str(exc))
            return None
        except OSError as exc:
            log(f"warning: maildrop/{maildrop_id}: cannot queue the message: {exc}")
            return None
    try:
        store.remove(Queue.MAILDROP, maildrop_id)
    except MessageNotFound:
        pass
    except OSError as exc:
        log(f"warning: maildrop/{maildrop_id}: cannot remove the file: {exc}")
    return queue_id


def _enqueue(store: QueueStore, settings: PickupSettings, logs: _Logs, message: QueuedMessage,
             submission: _Submission, content: bytes) -> str:
    """cleanup and commit into incoming; logs Postfix's lines (pickup's ``uid=`` first,
    then cleanup's)."""
    env = submission.envelope
    uid = message.stat.st_uid
    now = time.time()
    when = min(message.stat.st_mtime, now)
    raw = tuple(r.address for r in env.recipients)
    with store.begin() as draft:
        if when < now - _DAY:
            logs.pickup(f"warning: {draft.queue_id}: message has been queued for "
                        f"{int((now - when) // _DAY)} days")
        logs.pickup(f"{draft.queue_id}: uid={uid} from=<{env.sender}>")
        arrival = Arrival(draft.queue_id, when, None, "", "", "", raw)
        received = pickup_received_header(arrival, str(uid), settings.cleanup)
        cleaned = cleanup(content, env.sender,
                          tuple(envelope_recipient(a) for a in raw), arrival, received,
                          settings.cleanup, local_context=submission.local_context,
                          full_name=submission.full_name)
        outcome = _checked(cleaned, draft.queue_id, logs.cleanup)
        if outcome is not None and outcome.discard:
            return draft.queue_id  # dropped, as Postfix's DISCARD
        recipients = _recipients(env, cleaned, outcome)
        if outcome is not None and outcome.reject is not None:
            _bounce_rejected(store, settings, logs, draft.queue_id,
                             replace(env, sender=cleaned.sender, recipients=recipients,
                                     arrival_time=when),
                             outcome.reject, cleaned.content)
            return draft.queue_id  # (the draft is dropped: nothing else is queued)
        attributes = [(REWRITE_CONTEXT_ATTRIBUTE, "local" if submission.local_context
                       else "remote")]
        if submission.full_name:
            attributes.append((FULL_NAME_ATTRIBUTE, submission.full_name))
        attributes += filter_attributes(settings.cleanup, outcome)
        envelope = Envelope(cleaned.sender, recipients, when, Client(),
                            env.dsn_ret, env.dsn_envid, env.body_type, env.smtputf8,
                            tuple(attributes))
        draft.write(cleaned.content)
        held = outcome is not None and outcome.hold is not None
        queue_id = store.commit(draft, envelope, hold=held)
    if held:  # HOLD: committed into hold/, qmgr is not told
        return queue_id
    trigger.send(store.directory, trigger.QMGR, trigger.INCOMING + queue_id.encode())
    return queue_id


def _recipients(env: Envelope, cleaned: Cleaned, outcome: Outcome | None,
                ) -> tuple[Recipient, ...]:
    """The queue's recipients: virtual aliases expanded, REDIRECT's instead, BCC's added;
    duplicates go, as cleanup's been_here()."""
    redirect = outcome.redirect if outcome is not None else None
    recipients: dict[Recipient, None] = {}
    aliases = cleaned.aliases or tuple((a,) for a in cleaned.recipients)
    for given, expanded in zip(env.recipients, aliases, strict=True):
        for address in (redirect,) if redirect else expanded:
            orcpt = given.orcpt or f"rfc822;{address}"
            original = given.address if given.address != address else ""
            recipients[Recipient(address, orcpt, given.notify, original)] = None
    for bcc in outcome.bcc if outcome is not None else ():
        recipients[Recipient(bcc, f"rfc822;{bcc}")] = None
    return tuple(recipients)


def _checked(cleaned: Cleaned, queue_id: str, log: Log) -> Outcome | None:
    """Log what cleanup decided, ``message-id=`` among the checks' lines.  Unlike smtpd's,
    pickup's cleanup goes on after a REJECT (the message is bounced, not refused): the
    message-id is logged at the end then (captured: tests/golden/content_filter)."""
    for warning in cleaned.warnings:
        log(f"warning: {warning}")
    outcome = cleaned.checks
    if outcome is not None and outcome.reject is not None and cleaned.message_id_at is None:
        cleaned = replace(cleaned, message_id_at=len(outcome.log))
    for line in cleaned.log_lines(queue_id):
        log(line)
    return outcome


def _bounce_rejected(store: QueueStore, settings: PickupSettings, logs: _Logs, queue_id: str,
                     envelope: Envelope, reject: str, content: bytes) -> None:
    """header_checks or body_checks REJECT on local submission: Postfix's cleanup bounces
    every recipient (``status=bounced``, logged by cleanup) and returns the message's
    header section to the sender; the message itself is not queued.  Raises ValueError
    (the maildrop file goes to corrupt) when no notification can be made."""
    from mailrelay.bounce.entry import NoticeEntry
    from mailrelay.bounce.notice import NoticeKind
    from mailrelay.qmgr.notices import Notices
    from mailrelay.qmgr.schedule import pretty_delay

    if settings.bounce is None:
        raise ValueError(f"message content rejected: {reject}")
    dsn, _, reason = reject.partition(" ")
    delay = pretty_delay(max(0.0, time.time() - envelope.arrival_time))
    entries = []
    for r in envelope.recipients:
        orig = f"orig_to=<{r.original}>, " if r.original else ""
        logs.cleanup(f"{queue_id}: to=<{r.address}>, {orig}relay=none, delay={delay}, "
                     f"delays={delay}/0/0/0, dsn={dsn}, status=bounced ({reason})")
        entries.append(NoticeEntry(r.address, r.orcpt, r.original, dsn, "failed", reason,
                                   notify=r.notify))
    headers = split_headers(content).headers + b"\r\n"  # the body was never kept

    def queued(new: str) -> None:
        trigger.send(store.directory, trigger.QMGR, trigger.INCOMING + new.encode())

    notices = Notices(store, settings.bounce, settings.cleanup, logs.bounce, logs.cleanup,
                      queued)
    notices.send(NoticeKind.FAILURE, queue_id, replace(envelope, dsn_ret="HDRS"), entries,
                 headers)


def _printable(text: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in text)


def _submission(env: Envelope) -> _Submission:
    """What pickup takes from an untrusted maildrop envelope; raises _Refused."""
    if not env.recipients:
        raise _Refused("no recipients")
    addresses = [env.sender, *(r.address for r in env.recipients),
                 *(r.orcpt for r in env.recipients)]
    if not all(_printable(a) for a in addresses):
        raise _Refused("control character in an envelope address")
    if (env.body_type not in _BODY_TYPES or env.dsn_ret not in _DSN_RET
            or not math.isfinite(env.arrival_time)):
        raise _Refused("malformed envelope")
    attributes = dict(env.attributes)
    full_name = "".join(" " if not _printable(c) else c
                        for c in attributes.get(FULL_NAME_ATTRIBUTE, ""))
    envid = env.dsn_envid if _printable(env.dsn_envid) and len(env.dsn_envid) <= 100 else ""
    clean = Envelope(env.sender, tuple(Recipient(r.address, r.orcpt, r.notify)
                                       for r in env.recipients),
                     env.arrival_time, Client(), env.dsn_ret, envid, env.body_type, env.smtputf8)
    return _Submission(clean, full_name, attributes.get(REWRITE_CONTEXT_ATTRIBUTE) != "remote")


def _quarantine(store: QueueStore, log: Log, maildrop_id: str, reason: str) -> None:
    try:
        store.quarantine(Queue.MAILDROP, maildrop_id)
    except MessageNotFound:
        return
    except OSError as exc:
        log(f"warning: maildrop/{maildrop_id}: {reason}; cannot move it to corrupt: {exc}")
        return
    log(f'warning: saving corrupt file "{maildrop_id}" from queue "maildrop" to queue '
        f'"corrupt": {reason}')


# ---------------------------------------------------------------- the service


def wake_pickup(queue_directory: str | os.PathLike[str]) -> bool:
    """sendmail's poke: one datagram to ``public/pickup``; False when no pickup listens."""
    return trigger.send(queue_directory, PICKUP_SOCKET, WAKEUP)


def bind_wakeup_socket(queue_directory: str | os.PathLike[str]) -> socket.socket:
    """Bind ``public/pickup`` (0666; ``public/`` made 0755 if missing), replacing a stale one."""
    return trigger.bind(queue_directory, PICKUP_SOCKET, 0o666)


async def run_pickup(store: QueueStore, settings: PickupSettings | CleanupSettings, log: Log,
                     stop: asyncio.Event, interval: float = 60.0,
                     programs: Callable[[str], Log] | None = None) -> None:
    """The pickup service, until *stop* is set (see the module documentation)."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    try:
        sock: socket.socket | None = await asyncio.to_thread(bind_wakeup_socket,
                                                             store.directory)
    except OSError as exc:
        log(f"warning: cannot bind {PICKUP_SOCKET}: {exc}; looking every {interval:g}s")
        sock = None
    if sock is not None:
        loop.add_reader(sock.fileno(), _drain, sock, wake)
    try:
        while not stop.is_set():
            wake.clear()
            try:
                await asyncio.to_thread(pickup_once, store, settings, log, programs)
            except Exception as exc:  # a bug or a broken queue: say so, retry at the interval
                log(f"warning: pickup failed: {exc!r}")
            await _wait(stop, wake, interval)
    finally:
        if sock is not None:
            loop.remove_reader(sock.fileno())
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(store.directory / PICKUP_SOCKET)


def _drain(sock: socket.socket, wake: asyncio.Event) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(64):
            pass
    wake.set()


async def _wait(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
