"""``mailrelay postmap``: Postfix's postmap(1) -- build, query, list and edit lookup tables.

    postmap [-bfhinNoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file...

Output, messages and exit statuses are Postfix 3.7's, with ``mailrelay/postmap:`` in front of
messages: ``-q`` prints the value and exits 0, or exits 1 when no table has the key; ``-q -``
prints ``key<TAB>value`` for each key read from standard input that some table has; ``-s``
prints ``key<TAB>value`` for every entry of the first table; ``-d`` exits 0 when it removed
something.  Differences, and why: ``-s`` on hash/btree/lmdb lists keys in byte order (the file
is a B-tree); ``-q -`` writes each answer as it finds it, where Postfix loses the answers
printed before a later fatal error; ``-F`` and ``-m`` are refused (not implemented);
``-n``/``-N``, ``-u``/``-U`` and ``-v`` are accepted and change nothing; a compiled file is
never given more permissions than its source allows, even when it already existed; main.cf
is read only for ``default_database_type``, when a table is named without its type.

SECURITY: run as root, it gives a compiled file its source's owner (Postfix builds it as that
owner) and never more read permission than the source has, so ``postmap sasl_passwd`` by
root leaves no readable copy of a private password table.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mailrelay.cli.context import Context
from mailrelay.config.locate import load_main
from mailrelay.maps.base import MapLookupError, Table
from mailrelay.maps.indexed import (
    DupMode,
    compile_source,
    compiled_path,
    default_mode,
    delete_keys,
    update_source,
)
from mailrelay.maps.registry import (
    DEFAULT_DATABASE_TYPE,
    OpenOptions,
    map_type,
    open_map,
    split_spec,
)
from mailrelay.util.diagnostic import Fatal

OPTIONS = "bc:d:fFhimnNopq:rsuUvw"
USAGE = ("usage: mailrelay postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] "
         "[map_type:]file...")

_HEADER = re.compile(r"[!-9;-~]+[ \t]*:")


@dataclass(slots=True)
class Request:
    fold: bool = True
    incremental: bool = False
    inherit_mode: bool = True
    as_owner: bool = True
    dup: DupMode = DupMode.WARN
    query: str | None = None
    delete: str | None = None
    sequence: bool = False
    header_keys: bool = False
    body_keys: bool = False
    mime: bool = False
    operands: list[str] = field(default_factory=list)


class UsageError(Exception):
    """Bad command line: Postfix prints the usage line as a fatal error."""


def printable(text: str) -> str:
    """Postfix's printable(): what cannot be shown in a log line shows as ``?``."""
    return "".join("?" if c == "\ufffd" or ord(c) < 32 or ord(c) == 127 else c for c in text)


def parse_args(args: list[str], ctx: Context) -> Request:
    """POSIX getopt() over Postfix's option letters (options end at the first operand)."""
    request = Request()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        j = 1
        while j < len(arg):
            letter = arg[j]
            position = OPTIONS.find(letter)
            if letter == ":" or position < 0:
                print(f"{ctx.program}: invalid option -- '{letter}'", file=ctx.stderr)
                raise UsageError
            if OPTIONS[position + 1 : position + 2] == ":":
                if j + 1 < len(arg):
                    value = arg[j + 1 :]
                else:
                    i += 1
                    if i >= len(args):
                        print(f"{ctx.program}: option requires an argument -- '{letter}'",
                              file=ctx.stderr)
                        raise UsageError
                    value = args[i]
                _option(request, letter, value, ctx)
                break
            _option(request, letter, None, ctx)
            j += 1
        i += 1
    request.operands = args[i:]
    return request


def _option(request: Request, letter: str, value: str | None, ctx: Context) -> None:
    if letter == "c":
        ctx.config_option = value
    elif letter in "dq":
        if request.sequence or request.query is not None or request.delete is not None:
            raise Fatal("specify only one of -s -q or -d")
        if letter == "d":
            request.delete = value
        else:
            request.query = value
    elif letter == "s":
        if request.query is not None or request.delete is not None:
            raise Fatal("specify only one of -s or -q or -d")
        request.sequence = True
    elif letter == "f":
        request.fold = False
    elif letter == "i":
        request.incremental = True
    elif letter == "o":
        request.as_owner = False
    elif letter == "p":
        request.inherit_mode = False
    elif letter == "r":
        request.dup = DupMode.REPLACE
    elif letter == "w":
        request.dup = DupMode.IGNORE
    elif letter == "b":
        request.body_keys = True
    elif letter == "h":
        request.header_keys = True
    elif letter == "m":
        request.mime = True
    elif letter == "F":
        raise Fatal("option -F (values from files) is not supported")
    # n, N (null byte conventions), u, U (UTF-8 checks), v (verbose): accepted, no effect.


def run(args: list[str], ctx: Context) -> int:
    try:
        request = parse_args(args, ctx)
    except UsageError:
        return ctx.fatal(USAGE)
    except Fatal as e:
        return ctx.fatal(e)
    if (request.header_keys or request.body_keys or request.mime) and request.query != "-":
        return ctx.fatal('specify -b -h or -m only with "-q -"')
    if request.mime:
        if not (request.header_keys or request.body_keys):
            ctx.warn("ignoring -m option without -b or -h")
        else:
            return ctx.fatal("option -m (MIME parsing) is not supported")
    command = _Command(request, ctx)
    try:
        return command.run()
    except Fatal as e:
        return ctx.fatal(printable(str(e)))


class _Command:
    def __init__(self, request: Request, ctx: Context) -> None:
        self.request = request
        self.ctx = ctx
        self.options = OpenOptions(fold_case=request.fold, dup=request.dup, now=time.time())
        self._default_type: str | None = None

    def run(self) -> int:
        request = self.request
        if request.delete is not None:
            return self.delete(request.delete)
        if request.query is not None:
            return self.query(request.query)
        if request.sequence:
            return self.sequence()
        return self.build()

    # -- helpers ------------------------------------------------------------------------------

    def warn(self, text: str) -> None:
        self.ctx.warn(printable(text))

    def default_type(self) -> str:
        """default_database_type from main.cf, read only when an operand has no type."""
        if self._default_type is None:
            value = load_main(self.ctx.source()).raw("default_database_type")
            self._default_type = value or DEFAULT_DATABASE_TYPE
        return self._default_type

    def spec(self, operand: str) -> tuple[str, str]:
        if ":" in operand:
            return split_spec(operand)
        return split_spec(operand, self.default_type())

    def open(self, operand: str) -> Table:
        type_, name = self.spec(operand)
        table = open_map(f"{type_}:{name}", self.options)
        for warning in table.warnings:
            self.warn(warning)
        return table

    def write(self, text: str) -> None:
        try:
            self.ctx.stdout.write(text)
        except UnicodeEncodeError:
            self.ctx.stdout.write(text.encode("utf-8", "surrogateescape").decode("utf-8",
                                                                                "replace"))

    def stdin_bytes(self) -> bytes:
        buffer = getattr(self.ctx.stdin, "buffer", None)
        return buffer.read() if buffer is not None else self.ctx.stdin.read().encode()

    def stdin_keys(self) -> Iterator[str]:
        """Lines of standard input without their newline (a CR stays, as in Postfix)."""
        buffer = getattr(self.ctx.stdin, "buffer", None)
        lines: Iterable[bytes] = buffer if buffer is not None else (
            line.encode() for line in self.ctx.stdin)
        for line in lines:
            yield line.removesuffix(b"\n").decode("utf-8", "surrogateescape")

    def lookup(self, table: Table, key: str) -> str | None:
        try:
            value = table.lookup(key)
        except MapLookupError as e:
            raise Fatal(f"table {table.spec}: query error: {e}") from e
        if value == "":
            self.warn(f"table {table.spec}: key {key}: empty string result is not allowed")
            self.warn(f"table {table.spec} should return NO RESULT in case of NOT FOUND")
        return value

    # -- -q -----------------------------------------------------------------------------------

    def query(self, key: str) -> int:
        operands = self.request.operands
        if not operands:
            raise Fatal(USAGE)
        if key == "-":
            return self.queries(operands)
        for operand in operands:
            table = self.open(operand)
            value = self.lookup(table, key)
            table.close()
            if value is not None:
                self.write(value + "\n")
                return 0
        return 1

    def queries(self, operands: list[str]) -> int:
        tables: list[Table | None] = [None] * len(operands)
        found = False
        request = self.request
        keys = self.stdin_keys()
        if request.header_keys or request.body_keys:
            keys = message_keys(keys, headers=request.header_keys, body=request.body_keys)
        for key in keys:
            for n, operand in enumerate(operands):
                table = tables[n]
                if table is None:
                    table = tables[n] = self.open(operand)  # opened when first needed
                value = self.lookup(table, key)
                if value is not None:
                    self.write(f"{key}\t{value}\n")
                    found = True
                    break
        for table in tables:
            if table is not None:
                table.close()
        return 0 if found else 1

    # -- -s -----------------------------------------------------------------------------------

    def sequence(self) -> int:
        if not self.request.operands:
            return 1
        type_, name = self.spec(self.request.operands[0])
        if type_ == "proxy":
            raise Fatal("can't sequence maps via the proxy service")
        table = self.open(f"{type_}:{name}")
        try:
            for key, value in table.items():
                if not key:
                    self.warn(f"table {table.spec}: empty lookup key value is not allowed")
                elif not value:
                    self.warn(f"table {table.spec}: key {key}: empty string result is not "
                              "allowed")
                    self.warn(f"table {table.spec} should return NO RESULT in case of NOT "
                              "FOUND")
                self.write(f"{key}\t{value}\n")
        except MapLookupError as e:
            raise Fatal(f"table {table.spec}: sequence error: {e}") from e
        table.close()
        return 0

    # -- -d -----------------------------------------------------------------------------------

    def delete(self, key: str) -> int:
        operands = self.request.operands
        if not operands:
            raise Fatal(USAGE)
        targets = [self.writable(operand) for operand in operands]
        keys = list(self.stdin_keys()) if key == "-" else [key]
        found = False
        for type_, name in targets:
            found |= delete_keys(type_, name, keys, fold_keys=self.request.fold)
        return 0 if found else 1

    def writable(self, operand: str) -> tuple[str, str]:
        """A table that postmap can change: hash, btree or lmdb (Postfix's wording else)."""
        type_, name = self.spec(operand)
        kind = map_type(type_)
        if type_ == "fail":
            raise Fatal(f"table {type_}:{name}: delete error: Application error")
        if not kind.indexed:
            raise Fatal(f"{type_}:{name} map requires O_RDONLY access mode")
        return type_, name

    # -- building -----------------------------------------------------------------------------

    def build(self) -> int:
        if not self.request.operands:
            raise Fatal(USAGE)
        for operand in self.request.operands:
            type_, name = self.spec(operand)
            if type_ == "proxy":
                raise Fatal("can't create maps via the proxy service")
            if self.request.incremental:
                self.update(type_, name)
            else:
                self.compile(type_, name)
        return 0

    def check_buildable(self, type_: str, name: str) -> None:
        kind = map_type(type_)
        if type_ == "fail":
            raise Fatal(f"table {type_}:{name}: write error: Application error")
        if not kind.indexed:
            raise Fatal(f"unsupported dictionary type: {type_} does not support bulk-mode "
                        "creation.")

    def compile(self, type_: str, name: str) -> None:
        # Postfix opens the source before it looks at the type: same errors, same order.
        try:
            with open(name, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except OSError as e:
            raise Fatal(f"open {name}: {e.strerror}") from e
        self.check_buildable(type_, name)
        compile_source(type_, name, data, self.warn, fold_keys=self.request.fold,
                       dup=self.request.dup, mode=self.mode(type_, name, st),
                       owner=self.owner(st))

    def update(self, type_: str, name: str) -> None:
        st = os.fstat(self.ctx.stdin.fileno()) if _has_fileno(self.ctx.stdin) else None
        self.check_buildable(type_, name)
        update_source(type_, name, self.stdin_bytes(), "stdin", self.warn,
                      fold_keys=self.request.fold, dup=self.request.dup,
                      mode=self.mode(type_, name, st))

    def mode(self, type_: str, name: str, source: os.stat_result | None) -> int:
        try:
            existing: int | None = os.stat(compiled_path(type_, name)).st_mode & 0o7777
        except OSError:
            existing = None
        inherit = self.request.inherit_mode and source is not None and _is_regular(source)
        return default_mode(source.st_mode if inherit and source else None, existing)

    def owner(self, source: os.stat_result) -> tuple[int, int] | None:
        """Running as root, the compiled file belongs to the source's owner (unless -o)."""
        if not self.request.as_owner or os.geteuid() != 0:
            return None
        if (source.st_uid, source.st_gid) == (os.geteuid(), os.getegid()):
            return None
        return source.st_uid, source.st_gid


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


def _has_fileno(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


def message_keys(lines: Iterable[str], *, headers: bool, body: bool) -> Iterator[str]:
    """postmap -h / -b: a message's logical header lines and/or body lines, as lookup keys.

    Without MIME parsing (Postfix without -m): the primary header ends at an empty line or at
    the first line that is not a header; the body starts there, with one empty key for the
    boundary (the empty line itself, or an inserted one).  With -h alone, reading stops at
    the end of the header.
    """
    header: str | None = None
    in_header = True
    for line in lines:
        if in_header:
            if header is not None and line[:1] in (" ", "\t"):
                header += "\n" + line
                continue
            if header is not None and headers:
                yield header
            header = None
            if _HEADER.match(line):
                header = line
                continue
            in_header = False
            if not body:
                return
            yield ""
            if line == "":
                continue
        if body:
            yield line
    if header is not None and headers:
        yield header
