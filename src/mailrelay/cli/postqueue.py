"""``mailrelay postqueue`` and ``mailrelay mailq``: Postfix's postqueue(1) and mailq(1).

    postqueue [-c config_dir] -p | -j | -f | -i queue_id | -s site
    mailq                                   (the same as postqueue -p)

SECURITY: reads the queue directories (each queue file's envelope and its defer log) and, for
-f, -i and -s, sends one datagram to ``private/qmgr``; it writes nothing.  It needs the rights
of the mail system's user, since the queue directories are private (Postfix's postqueue gets
them from its setgid group).

``-p`` prints the listing of :func:`mailrelay.queue.showq.compat_listing`, ``-j`` the JSON
lines of :func:`mailrelay.queue.showq.json_line`, both byte for byte Postfix's format.  Both read
the queue directly, so they work whether or not the daemon runs (Postfix's postqueue does the
same when its showq service is down, with a warning; mailrelay has no showq service).

``-f`` asks qmgr to retry every deferred message now, ``-i ID`` that one message, ``-s SITE`` the
deferred mail with a recipient at SITE.  When no qmgr listens, postqueue says what Postfix's
says (``Cannot flush mail queue - mail system is down``).  Queue IDs and sites are checked as
Postfix checks them before anything is sent.

Exit status: 0, or 69 (EX_UNAVAILABLE) after a fatal error, as Postfix's postqueue; mailq with
an operand exits 75 as Postfix's sendmail -bp does.  Messages start with ``mailrelay/postqueue:``
(or ``mailrelay/mailq:``) where Postfix's say ``postqueue:``.

Differences from Postfix, and why:

* ``-s`` flushes any destination: Postfix's needs the destination in ``fast_flush_domains``
  (per-site logs kept by its flush service); mailrelay's qmgr finds the site's deferred mail by
  reading the deferred queue, so there is nothing to configure.
* A queue file that cannot be read is left out of the listing with a warning on stderr (Postfix's
  showq logs it to the maillog only); ``postsuper -s`` moves it to the corrupt queue.
* Sizes count the content as stored, with CRLF line ends (see :mod:`mailrelay.queue.showq`).
"""

from __future__ import annotations

import getopt
import os
import re
from collections.abc import Iterator
from pathlib import Path

from mailrelay.cli.context import Context
from mailrelay.config.locate import load_main
from mailrelay.config.model import Config
from mailrelay.mail.address import valid_address_literal
from mailrelay.mail.hostname import valid_hostname
from mailrelay.queue import trigger
from mailrelay.queue.record import QueueFileError
from mailrelay.queue.showq import QUEUE_ORDER, ShowqEntry, compat_listing, json_line, make_entry
from mailrelay.queue.statuslog import StatusLog
from mailrelay.queue.store import EXPIRED_BIT, LogKind, MessageNotFound, Queue, QueueStore
from mailrelay.util.diagnostic import Fatal

EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
USAGE = ("usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | "
         "postqueue -s site")
_MODES = frozenset("fijps")
#: Postfix's mail_queue_id_ok(): what may name a queue file (and cannot climb out of it).
_QUEUE_ID_SYNTAX = re.compile(r"[A-Za-z0-9_]{1,255}")


class UsageError(Exception):
    """A bad command line: printed as a fatal usage message."""


def run(args: list[str], ctx: Context) -> int:
    if ctx.command == "mailq":
        return _mailq(args, ctx)
    try:
        mode, value = parse_options(args, ctx)
        config = load_main(ctx.source())
        if mode in "pj":
            list_queue(queue_store(config), config, ctx, json=mode == "j")
            return 0
        flush(queue_store(config), mode, value, ctx)
        return 0
    except UsageError:
        print(f"{ctx.program}: fatal: {USAGE}", file=ctx.stderr)
    except Fatal as error:
        print(f"{ctx.program}: fatal: {error}", file=ctx.stderr)
    return EX_UNAVAILABLE


def _mailq(args: list[str], ctx: Context) -> int:
    """sendmail -bp: options are sendmail's (``-C`` names the configuration), no operands."""
    args = list(args)
    while args and args[0].startswith("-") and args[0] != "-":
        option = args.pop(0)
        if option == "--":
            break
        if option == "-C" and args:
            ctx.config_option = args.pop(0)
        elif option.startswith("-C") and len(option) > 2:
            ctx.config_option = option[2:]
    if args:
        print(f"{ctx.program}: fatal: display queue mode requires no recipient", file=ctx.stderr)
        return EX_TEMPFAIL
    try:
        config = load_main(ctx.source())
        list_queue(queue_store(config), config, ctx, json=False)
    except Fatal as error:
        print(f"{ctx.program}: fatal: {error}", file=ctx.stderr)
        return EX_TEMPFAIL
    return 0


def parse_options(args: list[str], ctx: Context) -> tuple[str, str]:
    """The mode letter and its value; exactly one of -f -i -j -p -s, as Postfix requires."""
    options, operands = options_of(args, "c:fi:jps:v", ctx)
    mode, value = "", ""
    for option, argument in options:
        if option == "c":
            ctx.config_option = argument
        elif option in _MODES:
            if mode:
                raise UsageError
            mode, value = option, argument
    if not mode or operands:
        raise UsageError
    return mode, value


def options_of(args: list[str], spec: str, ctx: Context) -> tuple[list[tuple[str, str]], list[str]]:
    """GNU getopt, as the Postfix commands get it from glibc: options may follow operands.

    Options come back as (letter, argument); a bad option is reported in glibc's words and
    raises UsageError.
    """
    try:
        options, operands = getopt.gnu_getopt(args, spec)
    except getopt.GetoptError as error:
        if "requires" in error.msg:
            print(f"{ctx.program}: option requires an argument -- '{error.opt}'", file=ctx.stderr)
        else:
            print(f"{ctx.program}: invalid option -- '{error.opt}'", file=ctx.stderr)
        raise UsageError from None
    return [(option[1:], argument) for option, argument in options], operands


def queue_store(config: Config) -> QueueStore:
    """The configured queue; a missing queue directory is fatal, as Postfix's chdir is."""
    configured = config.get_str("queue_directory")
    directory = os.path.abspath(configured)
    if not os.path.isdir(directory):
        raise Fatal(f"chdir {configured}: No such file or directory")
    return QueueStore(directory, long_ids=config.get_bool("enable_long_queue_ids"))


# ---------------------------------------------------------------- -p and -j


def list_queue(store: QueueStore, config: Config, ctx: Context, *, json: bool) -> None:
    entries = queue_entries(store, config, ctx)
    if json:
        for entry in entries:
            ctx.stdout.write(json_line(entry))
            ctx.stdout.flush()
        return
    long_ids = config.get_bool("enable_long_queue_ids")
    for piece in compat_listing(entries, long_ids=long_ids):
        ctx.stdout.write(piece)
    ctx.stdout.flush()


def queue_entries(store: QueueStore, config: Config, ctx: Context) -> Iterator[ShowqEntry]:
    """Every readable message in showq's order; the unreadable ones are warned about."""
    empty_address = config.get_str("empty_address_recipient")
    utf8 = config.get_bool("smtputf8_enable")
    for name in QUEUE_ORDER:
        queue = Queue(name)
        try:
            queue_ids = list(store.ids(queue))
        except FileNotFoundError:
            continue  # a queue that was never made holds nothing
        except OSError as exc:
            raise Fatal(f"open directory {name}: {exc.strerror}") from None
        for queue_id in queue_ids:
            entry = read_entry(store, queue, queue_id, ctx, empty_address, utf8)
            if entry is not None:
                yield entry


def read_entry(store: QueueStore, queue: Queue, queue_id: str, ctx: Context,
               empty_address: str, utf8: bool) -> ShowqEntry | None:
    """One message's report; None if it is gone, or unreadable (with a warning)."""
    where = f"{queue.value}/{queue_id}"
    try:
        with store.open(queue, queue_id) as message:
            envelope, size = message.envelope, message.size
            expired = queue is not Queue.MAILDROP and bool(message.stat.st_mode & EXPIRED_BIT)
    except MessageNotFound:
        return None  # delivered, deleted or moved since the directory was read
    except QueueFileError as exc:
        ctx.warn(f"{where}: unreadable queue file: {exc} -- not listed")
        return None
    except OSError as exc:
        ctx.warn(f"open {where}: {exc.strerror} -- not listed")
        return None
    return make_entry(queue.value, queue_id, envelope, size, defer_log(store, queue_id, ctx),
                      forced_expire=expired, empty_address=empty_address, utf8=utf8)


def defer_log(store: QueueStore, queue_id: str, ctx: Context) -> StatusLog | None:
    try:
        return store.read_log(LogKind.DEFER, queue_id)
    except QueueFileError as exc:
        ctx.warn(f"defer/{queue_id}: unreadable status log: {exc} -- reasons not shown")
    except OSError as exc:
        ctx.warn(f"open defer/{queue_id}: {exc.strerror} -- reasons not shown")
    return None


# ---------------------------------------------------------------- -f, -i and -s


def flush(store: QueueStore, mode: str, value: str, ctx: Context) -> None:
    """Ask qmgr to retry deferred mail now; Fatal when the request cannot be sent."""
    if mode == "i":
        if not _QUEUE_ID_SYNTAX.fullmatch(value):
            raise Fatal(f'Cannot flush queue ID - invalid name: "{value}"')
        data = trigger.FLUSH + value.encode("ascii")
    elif mode == "s":
        if not valid_site(value):
            raise Fatal(f'Cannot flush mail queue - invalid destination: "{value}"')
        data = trigger.SITE + value.encode("utf-8", "surrogateescape")
    else:
        data = trigger.FLUSH
    if not trigger.send(store.directory, trigger.QMGR, data):
        if not (Path(store.directory) / trigger.QMGR).exists():
            ctx.warn(f"unable to look up {trigger.QMGR}: No such file or directory")
        raise Fatal("Cannot flush mail queue - mail system is down")


def valid_site(site: str) -> bool:
    """A host or domain name, or an address literal in brackets."""
    if site.startswith("[") and site.endswith("]"):
        return valid_address_literal(site)
    return valid_hostname(site)
