"""``mailrelay postcat``: Postfix's postcat(1), a queue file in human-readable form.

    postcat [-behqv] [-c config_dir] [files...]

SECURITY: reads queue files (with ``-q``, found by queue ID through QueueStore, which refuses
IDs with path characters and symbolic links) or the files named; writes nothing.

Output as Postfix 3.7's (tests/golden/queue_commands/postcat-*.ref): with ``-e`` the envelope
between ``*** ENVELOPE RECORDS queue/ID ***`` and ``*** MESSAGE CONTENTS queue/ID ***``, then
the content, then ``*** HEADER EXTRACTED queue/ID ***`` and ``*** MESSAGE FILE END queue/ID
***``; ``-h`` the header lines (up to the first line that is not a header or a continuation),
``-b`` the rest, from that line on; the section lines appear only with ``-e``; no option means
``-beh``.  Lines end in LF, as Postfix stores them.  ``-q ID`` with an ID that is not a queue
file name: ``fatal: bad mail queue ID: ../x``; one in no queue: ``fatal: open queue file ID: No
such file or directory``; a file that is not a queue file at all: ``warning: NAME: input is not
a valid queue file`` (exit status 0, as Postfix's); a damaged one: what could be shown, then a
fatal error naming the damage (exit status 1).  postcat never moves a file: ``postsuper -s``
moves unreadable files to the corrupt queue.

mailrelay's records are not Postfix's, so the envelope is mapped onto Postfix's labels:

* ``message_size:`` has Postfix's six fields: the content's length (as stored, CRLF line ends),
  its offset in the file, the number of recipients, 0 (qmgr options), the length again, and 1
  when SMTPUTF8 was requested.  ``message_arrival_time:`` as Postfix; there is no
  ``create_time:`` (not recorded) and no ``log_*`` attributes (Postfix's copies of the client
  attributes for logging; mailrelay keeps one set).
* Named attributes keep their names: ``client_name``, ``client_address``, ``client_port``,
  ``helo_name``, ``protocol_name``, ``sasl_method``, ``sasl_username`` and the others in the
  file (``rewrite_context``); ``sender_fullname:`` has its own label, as in Postfix; DSN ENVID
  and RET are ``envelope_id`` and ``ret_flags`` (FULL 1, HDRS 2), BODY is ``encoding``
  (``7bit``/``8bit``).
* Each recipient: ``notify_flags`` (Postfix's bits: NEVER 1, SUCCESS 2, FAILURE 4, DELAY 8)
  when NOTIFY was given, ``dsn_orig_rcpt`` when there is an ORCPT, ``original_recipient:``
  (the address before rewriting, or the address itself), then ``recipient:`` or, once
  delivered, ``done_recipient:``.  All recipients are in the envelope section; the HEADER
  EXTRACTED section is always empty (Postfix puts there what cleanup found after the content).

Refused, since they describe Postfix's record layout: ``-d`` (record types), ``-o`` (record
offsets), ``-s`` (start offset).  ``-r`` (do not follow pointer records) and ``-v`` change
nothing: mailrelay's files have no pointer records.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from mailrelay.cleanup.submission import FULL_NAME_ATTRIBUTE
from mailrelay.cli.context import Context
from mailrelay.cli.postqueue import UsageError, options_of, queue_store
from mailrelay.config.locate import load_main
from mailrelay.queue import record
from mailrelay.queue.record import CorruptQueueFile, Envelope, Notify, QueueFileError
from mailrelay.queue.store import MessageNotFound
from mailrelay.util.diagnostic import Fatal

USAGE = ("usage: postcat [-b (body text)] [-c config_dir] [-e (envelope records)] "
         "[-h (header text)] [-q (access queue)] [-v] [file(s)...]")
_QUEUE_ID_SYNTAX = re.compile(r"[A-Za-z0-9_]{1,255}")
_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")
_RET_FLAGS = {"FULL": 1, "HDRS": 2}
_ENCODING = {"7BIT": "7bit", "8BITMIME": "8bit"}
#: mailrelay's NOTIFY bits → Postfix's (dsn_mask.h), which order FAILURE before DELAY.
_POSTFIX_NOTIFY = ((Notify.NEVER, 1), (Notify.SUCCESS, 2), (Notify.FAILURE, 4),
                   (Notify.DELAY, 8))
_UNSUPPORTED = {"d": "record types", "o": "record offsets", "s": "record offsets"}


@dataclass(frozen=True, slots=True)
class Show:
    envelope: bool
    header: bool
    body: bool


def run(args: list[str], ctx: Context) -> int:
    try:
        options, operands = options_of(args, "bc:dehoqrs:v", ctx)
    except UsageError:
        raise Fatal(USAGE) from None
    letters = {option for option, _ in options}
    for option, argument in options:
        if option == "c":
            ctx.config_option = argument
        elif option in _UNSUPPORTED:
            raise Fatal(f"-{option} is not supported: mailrelay's queue files have no Postfix "
                        f"{_UNSUPPORTED[option]}")
    show = Show("e" in letters, "h" in letters, "b" in letters)
    if not (show.envelope or show.header or show.body):
        show = Show(True, True, True)
    out = Output(ctx.stdout)
    try:
        if "q" in letters:
            show_queued(operands, show, out, ctx)
        elif operands:
            for path in operands:
                show_file(path, path, show, out, ctx)
        else:
            show_file(None, "stdin", show, out, ctx)
    finally:
        out.flush()
    return 0


def show_queued(queue_ids: list[str], show: Show, out: Output, ctx: Context) -> None:
    store = queue_store(load_main(ctx.source()))
    for queue_id in queue_ids:
        if not _QUEUE_ID_SYNTAX.fullmatch(queue_id):
            raise Fatal(f"bad mail queue ID: {queue_id}")
        try:
            queue = store.locate(queue_id)
            message = store.open(queue, queue_id)
        except (MessageNotFound, ValueError):
            raise Fatal(f"open queue file {queue_id}: No such file or directory") from None
        except QueueFileError as exc:
            _unreadable(f"{queue.value}/{queue_id}", exc, ctx)
            continue
        except OSError as exc:
            raise Fatal(f"open queue file {queue_id}: {exc.strerror}") from None
        label = f"{queue.value}/{queue_id}"
        with message:
            try:
                write_message(out, label, message.envelope, message.size,
                              message.content(), show)
            except QueueFileError as exc:
                out.flush()
                raise Fatal(f"{label}: damaged queue file: {exc}") from None


def show_file(path: str | None, label: str, show: Show, out: Output, ctx: Context) -> None:
    """A queue file named on the command line, or stdin (*path* None)."""
    try:
        if path is None:
            data = _read_stdin(ctx.stdin)
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as exc:
        raise Fatal(f"open {path}: {exc.strerror}") from None
    try:
        decoded = record.decode(data)
    except QueueFileError as exc:
        _unreadable(label, exc, ctx, not_queue_file=data[: len(record.MAGIC)] != record.MAGIC)
        return
    write_message(out, label, decoded.envelope, len(decoded.content), [decoded.content], show)


def _unreadable(label: str, exc: QueueFileError, ctx: Context,
                not_queue_file: bool | None = None) -> None:
    """Postfix warns (and carries on) about a file that is no queue file at all, and stops at a
    damaged one."""
    if not_queue_file is None:  # from the store: only the preamble check fails at byte 0
        not_queue_file = isinstance(exc, CorruptQueueFile) and exc.offset == 0
    if not_queue_file:
        ctx.warn(f"{label}: input is not a valid queue file")
        return
    raise Fatal(f"{label}: damaged queue file: {exc}")


def _read_stdin(stdin: TextIO) -> bytes:
    binary: Any = getattr(stdin, "buffer", None)
    if binary is not None:
        data: bytes = binary.read()
        return data
    return stdin.read().encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- output


class Output:
    """Bytes to the command's stdout (a message's content need not be UTF-8)."""

    def __init__(self, stream: TextIO) -> None:
        stream.flush()
        self._text = stream
        self._binary: Any = getattr(stream, "buffer", None)

    def write(self, data: bytes) -> None:
        if self._binary is not None:
            self._binary.write(data)
        else:
            self._text.write(data.decode("utf-8", "surrogateescape"))

    def line(self, text: str) -> None:
        self.write(text.encode("utf-8", "surrogateescape") + b"\n")

    def flush(self) -> None:
        (self._binary or self._text).flush()


def write_message(out: Output, label: str, envelope: Envelope, length: int,
                  content: Iterable[bytes], show: Show) -> None:
    if show.envelope:
        out.line(f"*** ENVELOPE RECORDS {label} ***")
        for text in envelope_records(envelope, length):
            out.line(text)
        out.line(f"*** MESSAGE CONTENTS {label} ***")
    if show.header or show.body:
        for is_header, line in content_lines(content):
            if (show.header if is_header else show.body):
                out.write(line + b"\n")
    if show.envelope:
        out.line(f"*** HEADER EXTRACTED {label} ***")
        out.line(f"*** MESSAGE FILE END {label} ***")


def envelope_records(env: Envelope, length: int) -> list[str]:
    """The envelope under Postfix's labels, in Postfix's order (see the module docstring)."""
    smtputf8 = 1 if env.smtputf8 else 0
    sizes = (length, record.CONTENT_OFFSET, len(env.recipients), 0, length, smtputf8)
    lines = ["message_size: " + " ".join(f"{n:>15}" for n in sizes),
             f"message_arrival_time: {time.asctime(time.localtime(env.arrival_time))}"]
    full_name = [value for key, value in env.attributes if key == FULL_NAME_ATTRIBUTE]
    lines += [f"named_attribute: {key}={value}" for key, value in env.attributes
              if key != FULL_NAME_ATTRIBUTE]
    if env.dsn_envid:
        lines.append(f"named_attribute: envelope_id={env.dsn_envid}")
    if env.dsn_ret:
        lines.append(f"named_attribute: ret_flags={_RET_FLAGS[env.dsn_ret]}")
    lines += [f"sender_fullname: {name}" for name in full_name]
    lines.append(f"sender: {env.sender}")
    if env.body_type:
        lines.append(f"named_attribute: encoding={_ENCODING.get(env.body_type, env.body_type)}")
    client = env.client
    for name, value in (("client_name", client.name), ("client_address", client.address),
                        ("client_port", client.port), ("helo_name", client.helo),
                        ("protocol_name", client.protocol), ("sasl_method", client.sasl_method),
                        ("sasl_username", client.sasl_username)):
        if value:
            lines.append(f"named_attribute: {name}={value}")
    for rcpt in env.recipients:
        if rcpt.notify:
            flags = sum(bit for flag, bit in _POSTFIX_NOTIFY if rcpt.notify & flag)
            lines.append(f"named_attribute: notify_flags={flags}")
        if rcpt.orcpt:
            lines.append(f"named_attribute: dsn_orig_rcpt={rcpt.orcpt}")
        lines.append(f"original_recipient: {rcpt.original or rcpt.address}")
        lines.append(f"{'done_recipient' if rcpt.done else 'recipient'}: {rcpt.address}")
    return lines


def content_lines(chunks: Iterable[bytes]) -> Iterator[tuple[bool, bytes]]:
    """(is a header line, the line without its line end), as postcat -h and -b split them."""
    in_header, seen_header = True, False
    for line in _lines(chunks):
        if in_header:
            if _HEADER.match(line) or (seen_header and line[:1] in (b" ", b"\t")):
                seen_header = True
                yield True, line
                continue
            in_header = False
        yield False, line


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending: list[bytes] = []
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            pending.append(chunk[start:end])
            line = b"".join(pending)
            pending = []
            yield line[:-1] if line.endswith(b"\r") else line
            start = end + 1
        if start < len(chunk):
            pending.append(chunk[start:])
    if pending:
        yield b"".join(pending)
