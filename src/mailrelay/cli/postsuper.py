"""``mailrelay postsuper``: Postfix's postsuper(1), queue maintenance by the administrator.

    postsuper [-psSv] [-c config_dir] [-d queue_id] [-e queue_id] [-f queue_id]
              [-h queue_id] [-H queue_id] [-r queue_id] [queue ...]

SECURITY: changes the queue, but only through QueueStore's operations (rename, unlink, the
expiry mark), each of which is safe while the daemon runs, as Postfix's postsuper is: a
message that qmgr moves meanwhile is looked for again, and one in active may be deleted.
Queue IDs come from the command line or stdin and are checked before they name a file.

What each option does, with Postfix 3.7's messages (tests/golden/queue_commands/
postsuper-session.ref):

* ``-d ID`` delete (queue file and status logs), ``-h ID`` hold, ``-H ID`` release from hold
  into deferred (due now), ``-r ID`` requeue (into maildrop, where pickup passes it through
  cleanup again; pickup is woken), ``-e ID`` mark for expiry (qmgr returns it to the sender at
  its next attempt), ``-f ID`` the same and release it if it is held.  ``ID`` may be ``ALL``
  (upper case) or ``-`` (IDs from stdin, one a line).  Each named message prints ``ID:
  removed`` / ``placed on hold`` / ``released from hold`` / ``requeued`` / ``expired``; then a
  count per kind of operation requested (``Deleted: 1 message``, ``Placed on hold: 0
  messages``, ``Requeued``, ``Force-expired``, ``Released from hold``) in Postfix's order.
  An ID that cannot be a queue file name gets ``warning: invalid mail queue id: ../x``; one
  that is in no queue is silently not counted.  Exit status 0.
* The queues searched: those named as operands (maildrop, incoming, active, deferred, hold;
  anything else is ``fatal: invalid directory name``), else Postfix's defaults: all five for
  -d, -r, -e and -f (maildrop mail cannot be requeued, held or expired), incoming, active
  and deferred for -h, hold for -H.  ``ALL`` operations run first, then the named IDs in the
  order of the command line.
* ``-s`` (``-S``): the structure check.  Every queue file is read whole and checked; one that
  cannot be read is moved to the corrupt queue (never deleted) with Postfix qmgr's warning
  ``saving corrupt file "ID" from queue "deferred" to queue "corrupt"``; a name that is not a
  queue ID gets ``warning: bogus file name: incoming/NAME`` and is left alone.  ``-p``: remove
  temporary files that crashed writers left, and status logs without a message.  Both are
  done first; with no option at all, postsuper does both, as Postfix's does.

Differences from Postfix, and why: files are never renamed to match their inode numbers (-s):
mailrelay's queue IDs stay unique without it.  ``-p`` only runs while the mail system is
stopped, because the store's recovery assumes that no writer runs (``serve`` does the same at
every start); while it runs, -p says so and does nothing.  The log directories (defer, bounce)
and corrupt are not accepted as queue operands: deleting "ALL" status logs would make the
queue lie.  No superuser check: the mail system's own user may maintain its queue.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from mailrelay.cli.context import Context
from mailrelay.cli.postqueue import UsageError, options_of, queue_store
from mailrelay.config.locate import load_main
from mailrelay.master.pidfile import pid_path, running_pid
from mailrelay.pickup.service import wake_pickup
from mailrelay.queue.queue_id import is_valid
from mailrelay.queue.queuefile import TEMP_PREFIX
from mailrelay.queue.record import QueueFileError
from mailrelay.queue.store import InvalidQueueId, MessageNotFound, Queue, QueueStore
from mailrelay.util.diagnostic import Fatal

USAGE = ("usage: postsuper [-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] "
         "[-f queue_id (expire and/or un-hold)] [-h queue_id (hold)] [-H queue_id (un-hold)] "
         "[-p (purge temporary files)] [-r queue_id (requeue)] [-s (structure fix)] "
         "[-S (redundant structure fix)][-v (verbose)] [queue...]")
#: Postfix's mail_queue_id_ok(): letters, digits and "_", so an ID never climbs out of a queue.
_QUEUE_ID_SYNTAX = re.compile(r"[A-Za-z0-9_]{1,255}")
_ALL_QUEUES = (Queue.MAILDROP, Queue.INCOMING, Queue.ACTIVE, Queue.DEFERRED, Queue.HOLD)


class Op(enum.Enum):
    DELETE = "d"
    EXPIRE = "e"
    EXPIRE_RELEASE = "f"
    HOLD = "h"
    RELEASE = "H"
    REQUEUE = "r"


#: Queues searched for a named ID when no queue is given.
_DEFAULT_QUEUES = {
    Op.DELETE: _ALL_QUEUES,
    Op.EXPIRE: _ALL_QUEUES,
    Op.EXPIRE_RELEASE: _ALL_QUEUES,
    Op.REQUEUE: _ALL_QUEUES,
    Op.HOLD: (Queue.INCOMING, Queue.ACTIVE, Queue.DEFERRED),
    Op.RELEASE: (Queue.HOLD,),
}


class Count(enum.Enum):
    """The summary lines, in Postfix's order."""

    REQUEUED = "Requeued"
    DELETED = "Deleted"
    EXPIRED = "Force-expired"
    HELD = "Placed on hold"
    RELEASED = "Released from hold"


_COUNTS_OF = {
    Op.REQUEUE: (Count.REQUEUED,),
    Op.DELETE: (Count.DELETED,),
    Op.EXPIRE: (Count.EXPIRED,),
    Op.EXPIRE_RELEASE: (Count.EXPIRED, Count.RELEASED),
    Op.HOLD: (Count.HELD,),
    Op.RELEASE: (Count.RELEASED,),
}


@dataclass(slots=True)
class Request:
    named: list[tuple[Op, str]] = field(default_factory=list)  # command-line order
    everything: set[Op] = field(default_factory=set)  # the ALL operations
    structure: bool = False
    purge: bool = False
    queues: tuple[Queue, ...] = ()  # the operands
    implicit: bool = False  # no option at all: -s and -p, quietly

    @property
    def operations(self) -> set[Op]:
        return self.everything | {op for op, _ in self.named}


@dataclass(slots=True)
class Session:
    """One run: the store, where messages go, and the counts."""

    store: QueueStore
    ctx: Context
    counts: dict[Count, int] = field(default_factory=lambda: dict.fromkeys(Count, 0))

    def info(self, text: str) -> None:
        print(f"{self.ctx.program}: {text}", file=self.ctx.stderr)


def run(args: list[str], ctx: Context) -> int:
    try:
        request = parse_options(args, ctx)
    except UsageError:
        raise Fatal(USAGE) from None
    session = Session(queue_store(load_main(ctx.source())), ctx)
    if request.structure:
        check_structure(session, request.queues or _ALL_QUEUES)
    if request.purge:
        purge(session, explicit=not request.implicit)
    if request.everything:
        operate_on_all(session, request.everything, request.queues or _ALL_QUEUES)
    for op, queue_id in request.named:
        queues = request.queues or _DEFAULT_QUEUES[op]
        for one in _expand(queue_id, ctx):
            operate_on_one(session, op, one, queues)
    if session.counts[Count.REQUEUED]:
        wake_pickup(session.store.directory)  # Postfix's pickup would wait for its next scan
    report(session, request.operations)
    return 0


def parse_options(args: list[str], ctx: Context) -> Request:
    options, operands = options_of(args, "c:d:e:f:h:H:pr:sSv", ctx)
    request = Request()
    for option, argument in options:
        if option == "c":
            if not argument.startswith("/"):
                raise Fatal("-c requires absolute pathname")
            ctx.config_option = argument
        elif option in "sS":
            request.structure = True
        elif option == "p":
            request.purge = True
        elif option != "v":
            op = Op(option)
            if argument == "ALL":
                request.everything.add(op)
            else:
                request.named.append((op, argument))
    request.queues = tuple(_queue(name) for name in operands)
    if not (request.operations or request.structure or request.purge):
        request.structure = request.purge = request.implicit = True
    return request


def _queue(name: str) -> Queue:
    if name not in {q.value for q in _ALL_QUEUES}:
        raise Fatal(f"invalid directory name: {name}")
    return Queue(name)


def _expand(queue_id: str, ctx: Context) -> Iterator[str]:
    """A queue ID, or for ``-`` each line of stdin; ``ALL`` was done already."""
    if queue_id == "-":
        for line in ctx.stdin:
            yield line.rstrip("\n")
    elif queue_id != "ALL":
        yield queue_id


def report(session: Session, operations: Iterable[Op]) -> None:
    wanted = {count for op in operations for count in _COUNTS_OF[op]}
    for count in Count:
        if count in wanted:
            n = session.counts[count]
            session.info(f"{count.value}: {n} message{'' if n == 1 else 's'}")


# ---------------------------------------------------------------- one named message


def operate_on_one(session: Session, op: Op, queue_id: str, queues: tuple[Queue, ...]) -> None:
    if not _QUEUE_ID_SYNTAX.fullmatch(queue_id):
        session.ctx.warn(f"invalid mail queue id: {queue_id}")
        return
    if not is_valid(queue_id):
        return  # a name Postfix would accept, but no mailrelay queue file can have it
    # Twice, as Postfix does: qmgr may move the message from one queue to the next meanwhile.
    for _ in range(2):
        for queue in queues:
            try:
                if _ONE[op](session, queue, queue_id):
                    return
            except (MessageNotFound, InvalidQueueId):
                continue


def _delete(session: Session, queue: Queue, queue_id: str) -> bool:
    session.store.stat(queue, queue_id)  # first: remove() takes the status logs with it
    session.store.remove(queue, queue_id)
    session.info(f"{queue_id}: removed")
    session.counts[Count.DELETED] += 1
    return True


def _requeue(session: Session, queue: Queue, queue_id: str) -> bool:
    if queue is Queue.MAILDROP:
        return False
    session.store.requeue(queue, queue_id)
    session.info(f"{queue_id}: requeued")
    session.counts[Count.REQUEUED] += 1
    return True


def _hold(session: Session, queue: Queue, queue_id: str) -> bool:
    if queue in (Queue.MAILDROP, Queue.HOLD):
        return False  # maildrop mail is not sanitized yet: it must not mix with the rest
    session.store.hold(queue, queue_id)
    session.info(f"{queue_id}: placed on hold")
    session.counts[Count.HELD] += 1
    return True


def _release(session: Session, queue: Queue, queue_id: str) -> bool:
    if queue is not Queue.HOLD:
        return False
    session.store.release(queue_id)
    session.info(f"{queue_id}: released from hold")
    session.counts[Count.RELEASED] += 1
    return True


def _expire(session: Session, queue: Queue, queue_id: str, *, release: bool = False) -> bool:
    if queue is Queue.MAILDROP:
        return False
    if not session.store.stat(queue, queue_id).expired:  # marked already: not counted again
        session.store.expire(queue, queue_id)
        session.info(f"{queue_id}: expired")
        session.counts[Count.EXPIRED] += 1
    if release and queue is Queue.HOLD:
        _release(session, queue, queue_id)
    return True


_ONE: dict[Op, Callable[[Session, Queue, str], bool]] = {
    Op.DELETE: _delete,
    Op.REQUEUE: _requeue,
    Op.HOLD: _hold,
    Op.RELEASE: _release,
    Op.EXPIRE: _expire,
    Op.EXPIRE_RELEASE: lambda session, queue, queue_id: _expire(session, queue, queue_id,
                                                                release=True),
}


# ---------------------------------------------------------------- ALL


def operate_on_all(session: Session, ops: set[Op], queues: tuple[Queue, ...]) -> None:
    """Each message of *queues* gets the first ALL operation that applies to it, as Postfix's
    single pass does; -e/-f ALL mark it first.  No line per message, only the counts."""
    store = session.store
    for queue in queues:
        for queue_id in _ids(store, queue):
            try:
                _all_one(session, ops, queue, queue_id)
            except MessageNotFound:
                continue  # delivered or moved by the daemon meanwhile


def _all_one(session: Session, ops: set[Op], queue: Queue, queue_id: str) -> None:
    store, counts = session.store, session.counts
    if Op.DELETE in ops:
        store.stat(queue, queue_id)
        store.remove(queue, queue_id)
        counts[Count.DELETED] += 1
        return
    expiring = ops & {Op.EXPIRE, Op.EXPIRE_RELEASE}
    if expiring and queue is not Queue.MAILDROP and not store.stat(queue, queue_id).expired:
        store.expire(queue, queue_id)
        counts[Count.EXPIRED] += 1
    if Op.REQUEUE in ops and queue is not Queue.MAILDROP:
        store.requeue(queue, queue_id)
        counts[Count.REQUEUED] += 1
    elif Op.HOLD in ops and queue not in (Queue.MAILDROP, Queue.HOLD):
        store.hold(queue, queue_id)
        counts[Count.HELD] += 1
    elif ops & {Op.RELEASE, Op.EXPIRE_RELEASE} and queue is Queue.HOLD:
        store.release(queue_id)
        counts[Count.RELEASED] += 1


def _ids(store: QueueStore, queue: Queue) -> list[str]:
    try:
        return list(store.ids(queue))
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------- -s and -p


def check_structure(session: Session, queues: Iterable[Queue]) -> None:
    """Read every queue file whole; move what cannot be read to corrupt."""
    store = session.store
    for queue in queues:
        try:
            names = sorted(os.listdir(store.directory / queue.value))
        except FileNotFoundError:
            continue
        for name in names:
            if not is_valid(name):
                if not name.startswith(TEMP_PREFIX):
                    session.ctx.warn(f"bogus file name: {queue.value}/{name}")
                continue
            problem = _unreadable(store, queue, name)
            if problem is not None:
                store.quarantine(queue, name)
                session.ctx.warn(f"{queue.value}/{name}: {problem}")
                session.ctx.warn(f'saving corrupt file "{name}" from queue "{queue.value}" '
                                 f'to queue "{Queue.CORRUPT.value}"')


def _unreadable(store: QueueStore, queue: Queue, queue_id: str) -> str | None:
    """Why the file cannot be used, or None when it checks (or is gone)."""
    try:
        with store.open(queue, queue_id) as message:
            for _ in message.content():  # the content's checksum is checked at its end
                pass
    except MessageNotFound:
        return None
    except QueueFileError as exc:
        return f"unreadable queue file: {exc}"
    except PermissionError as exc:  # a maildrop file its submitter made unreadable
        return f"cannot open queue file: {exc.strerror}"
    return None


def purge(session: Session, *, explicit: bool) -> None:
    """Remove temporary files and orphan status logs, when no writer can be running."""
    pid = running_pid(pid_path(session.store.directory))
    if pid is not None:
        if explicit:
            session.ctx.warn(f"the mail system is running (pid {pid}): temporary files are "
                             "left for its next start to remove")
        return
    session.store.recover()
