"""``mailrelay sendmail``: Postfix's sendmail(1), local submission into the maildrop queue.

SECURITY: runs as any local user, with no privilege.  It writes exactly one file per message
into maildrop (through QueueStore, whose maildrop is writable by all and listable by none) and
sends one datagram to ``public/pickup``; it touches nothing else, so it works while the daemon
is down: pickup takes the message when it runs.

Usage as Postfix's: ``mailrelay [-c DIR] sendmail [options] [--] [recipient ...]``.  The
message is read from stdin (rules in :mod:`mailrelay.cleanup.submission`); ``-t`` adds the
To:/Cc:/Bcc: recipients to those of the command line; ``-i``/``-oi`` keep a lone ``.``; ``-f``
or ``-r`` set the sender (default: the login name, qualified later by cleanup), ``-F`` the full
name (default: ``$NAME``, else the GECOS field); ``-N``, ``-V``, ``-B`` and ``-G`` as Postfix;
``-bs`` speaks SMTP on stdin/stdout (:mod:`mailrelay.cli.sendmail_standalone`); ``-C`` names
the configuration (main.cf or its directory).  Sendmail options that Postfix ignores are
ignored; the modes that Postfix hands to other programs (``-bp``, ``-bi``, ``-bd``, ``-bv``,
``-q``, ``-XV``) are refused as unsupported.

Exit status: 0, or 75 (EX_TEMPFAIL) after every fatal error, whatever the error: Postfix's
sendmail installs ``msg_cleanup(tempfail)``, so each of its ``msg_fatal_status(EX_USAGE, ...)``
exits 75 too (checked against Postfix 3.7).
"""

from __future__ import annotations

import enum
import os
import pwd
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mailrelay.cleanup.submission import (
    FULL_NAME_ATTRIBUTE,
    REWRITE_CONTEXT_ATTRIBUTE,
    HeaderRecipients,
    address_list,
    gecos_full_name,
    message_lines,
    sender_address,
)
from mailrelay.cli.context import Context
from mailrelay.config.locate import load_main
from mailrelay.config.model import Config
from mailrelay.pickup.service import wake_pickup
from mailrelay.queue.record import Envelope, Notify, Recipient
from mailrelay.queue.store import Queue, QueueStore
from mailrelay.util.diagnostic import Fatal

EX_TEMPFAIL = 75
#: Postfix's GETOPT_LIST "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx".
_WITH_ARGUMENT = frozenset("ABCFLNORVXbefhopqr")
_FLAGS = frozenset("GIUcimntvx")
_NOTIFY = {"success": Notify.SUCCESS, "delay": Notify.DELAY, "failure": Notify.FAILURE}
_CHUNK = 1 << 16


class Mode(enum.Enum):
    ENQUEUE = "deliver"
    STANDALONE = "stand-alone SMTP"
    IGNORE = "ignore"


@dataclass(slots=True)
class Options:
    mode: Mode = Mode.ENQUEUE
    extract: bool = False
    dot_ends: bool = True
    sender: str | None = None
    full_name: str | None = None
    body_type: str = ""
    notify: Notify = Notify.NONE
    envid: str = ""
    rewrite_context: str = "local"
    config: str | None = None
    queue_run_interval: bool = False  # -qINTERVAL: nothing to do, exit 0
    recipients: list[str] = field(default_factory=list)


def run(args: list[str], ctx: Context) -> int:
    try:
        options = parse_options(args, ctx)
        if options.config is not None:
            ctx.config_option = options.config
        if options.queue_run_interval or options.mode is Mode.IGNORE:
            return 0
        config = load_main(ctx.source())
        if options.mode is Mode.STANDALONE:
            from mailrelay.cli.sendmail_standalone import serve

            return serve(config, ctx)
        return enqueue(options, config, ctx)
    except Fatal as error:
        print(f"{ctx.program}: fatal: {error}", file=ctx.stderr)
        return EX_TEMPFAIL


# ---------------------------------------------------------------- options


def _getopt(args: list[str], ctx: Context) -> Iterator[tuple[str, str]]:
    """POSIX getopt over Postfix's option list; leaves the operands in *args*."""
    while args and args[0].startswith("-") and args[0] != "-":
        arg = args.pop(0)
        if arg == "--":
            return
        if arg == "-q":  # not getopt compatible: flush the queue
            yield "q", ""
            continue
        if arg == "-XV":
            yield "X", "V"
            continue
        i = 1
        while i < len(arg):
            c = arg[i]
            i += 1
            if c in _WITH_ARGUMENT:
                if i < len(arg):
                    value = arg[i:]
                elif args:
                    value = args.pop(0)
                else:
                    print(f"{ctx.program}: option requires an argument -- '{c}'",
                          file=ctx.stderr)
                    raise Fatal("usage: sendmail [options]")
                yield c, value
                break
            if c not in _FLAGS:
                print(f"{ctx.program}: invalid option -- '{c}'", file=ctx.stderr)
                raise Fatal("usage: sendmail [options]")
            yield c, ""


def parse_options(args: list[str], ctx: Context) -> Options:
    """Postfix sendmail's option handling: values, warnings (printed) and fatal errors."""
    args = list(args)
    opts = Options()
    for c, value in _getopt(args, ctx):
        _option(opts, c, value, ctx)
    opts.recipients = args
    if opts.extract and opts.mode is not Mode.ENQUEUE:
        raise Fatal("-t can be used only in delivery mode")
    if opts.mode is Mode.STANDALONE and opts.recipients:
        raise Fatal("stand-alone mode requires no recipient")
    return opts


def _option(opts: Options, c: str, value: str, ctx: Context) -> None:
    first = value[:1]
    if c in "IXbnq":
        _mode_option(opts, c, value)
    elif c == "B":
        if value not in ("8BITMIME", "7BIT"):
            raise Fatal("-B option needs 8BITMIME or 7BIT")
        opts.body_type = value
    elif c == "C":
        opts.config = os.path.dirname(value) if os.path.basename(value) == "main.cf" else value
    elif c == "F":
        opts.full_name = value
    elif c == "G":
        opts.rewrite_context = "remote"
    elif c == "N":
        opts.notify = _notify(value)
        if opts.notify is Notify.NONE:
            ctx.warn("bad -N option value -- ignored")
    elif c == "V":
        if len(value) > 100:
            ctx.warn("too long -V option value -- ignored")
        elif not value.isprintable() or not value.isascii():
            ctx.warn("bad syntax in -V option value -- ignored")
        else:
            opts.envid = value
    elif c in "fr":
        opts.sender = value
    elif c == "i" or (c == "o" and first == "i"):
        opts.dot_ends = False
    elif c == "o" and first == "A" and len(value) == 1:
        raise Fatal("-oA requires pathname")
    elif c == "t":
        opts.extract = True
    # A, L, O, R, U, c, e, h, m, p, v, x and the other -o options are ignored, as Postfix.


_MODES = {"h": Mode.IGNORE, "H": Mode.IGNORE, "m": Mode.ENQUEUE, "s": Mode.STANDALONE}


def _mode_option(opts: Options, c: str, value: str) -> None:
    """-b, -q and the other options that choose what to do; Postfix runs another program
    for -bd, -bi, -bp, -bv, -I, -q and -qR, -qI, which are not here."""
    first = value[:1]
    if c == "b" and first in _MODES:
        opts.mode = _MODES[first]
    elif c == "q" and first.isdigit():
        opts.queue_run_interval = True
    elif c == "q" and first not in ("", "R", "I"):
        raise Fatal(f"-q{first} is not implemented")
    elif c == "n":
        raise Fatal(f"-{c} option not supported")
    else:
        raise Fatal(f"unsupported: -{c}{first}")


def _notify(value: str) -> Notify:
    """Postfix's dsn_notify_mask(): "never", or a list of success, delay, failure."""
    words = [w for w in value.replace(",", " ").lower().split() if w]
    if words == ["never"]:
        return Notify.NEVER
    if not words or any(w not in _NOTIFY for w in words):
        return Notify.NONE
    mask = Notify.NONE
    for word in words:
        mask |= _NOTIFY[word]
    return mask


# ---------------------------------------------------------------- the user


def login_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise Fatal(f"no login name found for user ID {uid}") from None


def full_name(uid: int, environ: dict[str, str] | None = None) -> str:
    """Postfix's fullname(): ``$NAME``, else the GECOS field of the user."""
    environ = dict(os.environ) if environ is None else environ
    if "NAME" in environ:
        return environ["NAME"]
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return ""
    return gecos_full_name(entry.pw_gecos, entry.pw_name)


def queue_store(config: Config) -> QueueStore:
    directory = config.get_str("queue_directory")
    try:
        os.stat(directory)
    except OSError as exc:
        raise Fatal(f"chdir {directory}: {exc.strerror}") from None
    return QueueStore(directory)


# ---------------------------------------------------------------- enqueue


def enqueue(opts: Options, config: Config, ctx: Context) -> int:
    uid = os.getuid()
    if opts.sender is not None:
        sender, malformed = sender_address(opts.sender)
        if malformed:
            ctx.warn(f"-f option specified malformed sender: {opts.sender}")
    else:
        sender = login_name(uid)
    name = opts.full_name if opts.full_name is not None else full_name(uid, dict(ctx.environ))
    who = f"{sender}({uid})"
    recipients: list[str] = []
    for arg in opts.recipients:  # each parsed as a header: "a, b" and "Name <a>" work
        recipients += address_list(arg) or [""]
    store = queue_store(config)
    limit = config.get_int("message_size_limit")
    try:
        with store.begin(Queue.MAILDROP) as draft:
            headers = HeaderRecipients() if opts.extract else None
            for chunk in _chunks(message_lines(_stdin_lines(ctx, who), dot_ends=opts.dot_ends),
                                 headers, limit, who):
                draft.write(chunk)
            if headers is not None:
                recipients += headers.recipients()
            if not recipients:
                raise Fatal(f"{who}: No recipient addresses found in message header"
                            if opts.extract else
                            f"{who}: Recipient addresses must be specified on the command line"
                            " or via the -t option")
            attributes = [(REWRITE_CONTEXT_ATTRIBUTE, opts.rewrite_context),
                          (FULL_NAME_ATTRIBUTE, name)]
            envelope = Envelope(sender, tuple(Recipient(r, notify=opts.notify)
                                              for r in recipients),
                                time.time(), dsn_envid=opts.envid, body_type=opts.body_type,
                                attributes=tuple(attributes))
            store.commit(draft, envelope)
    except OSError as exc:
        raise Fatal(f"{who}: error writing queue file: {exc.strerror or exc}") from None
    wake_pickup(store.directory)
    return 0


def _stdin_lines(ctx: Context, who: str) -> Iterator[bytes]:
    if ctx.stdin is None:  # started with stdin closed: an empty message, as from /dev/null
        return
    try:
        yield from ctx.stdin.buffer
    except OSError as exc:
        raise Fatal(f"{who}: error reading input: {exc.strerror or exc}") from None


def _chunks(lines: Iterable[bytes], headers: HeaderRecipients | None, limit: int,
            who: str) -> Iterator[bytes]:
    """The lines in chunks of about 64 KiB; -t headers seen on the way; the size limit."""
    batch: list[bytes] = []
    pending = size = 0
    for line in lines:
        if headers is not None:
            headers.feed(line)
        size += len(line)
        if limit and size > limit:
            raise Fatal(f"{who}: message file too big")
        batch.append(line)
        pending += len(line)
        if pending >= _CHUNK:
            yield b"".join(batch)
            batch, pending = [], 0
    if batch:
        yield b"".join(batch)
