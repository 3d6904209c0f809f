"""Reading master.cf (Postfix's master(5)), and the SMTP servers it asks for.

Every service is kept, whatever its command, so that ``postconf -M`` shows them all and
``check`` can say which ones mailrelay does not run; only the ``inet`` services whose command
is ``smtpd`` become listening endpoints (:func:`smtpd_listeners`).

Syntax, as Postfix 3.7 reads it (postconf_master.c, master_ent.c; checked with ``postconf -M``):
logical lines as in main.cf; eight fields separated by white space (``-`` means the default),
then the command's arguments.  A ``{ ... }`` group is one field whose braces and surrounding
white space are removed.  Options come before the first non-option argument; ``-o name=value``,
``-oname=value``, ``-o { name = value with spaces }`` set a parameter for that service only
(the value of ``-o name={ x }`` keeps its braces: it is not a group).

Where Postfix's postconf merely warns and its master refuses to start (an unbalanced brace,
``-o`` without ``name=value``), this module stops with an error naming the file and line.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from mailrelay.config.maincf import SPACE, LogicalLine, Setting, read_logical_lines, read_text
from mailrelay.config.maincf import split_nameval as _split_nameval
from mailrelay.config.model import Config
from mailrelay.util.diagnostic import Fatal, Origin

#: Postfix's PCF_MASTER_BLANKS: what separates master.cf fields.
BLANKS = " \t\r\n"
TYPES = ("unix", "unix-dgram", "fifo", "inet", "pass")
#: Field names as ``postconf -F`` and Postfix's diagnostics spell them.
FIELD_NAMES = (
    "service", "type", "private", "unprivileged", "chroot", "wakeup", "process_limit", "command",
)
#: Used when /etc/services does not name these (a minimal container has no such file).
WELL_KNOWN_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465}
SERVICES_FILE = "/etc/services"
#: The origin of the implicit service used when there is no master.cf.
DEFAULT_ORIGIN = Origin("(default)")


@dataclass(frozen=True, slots=True)
class Service:
    """One master.cf entry: the eight fields as written, then the command's arguments."""

    name: str
    type: str
    private: str
    unpriv: str
    chroot: str
    wakeup: str
    maxproc: str
    command: str
    #: The arguments after the command as ``postconf -M`` shows them (``-o`` and its value as
    #: two items, ``{}`` groups opened).
    args: tuple[str, ...] = ()
    #: The ``-o name=value`` settings, each with the line it was written on.
    overrides: Mapping[str, Setting] = field(default_factory=dict, hash=False)
    origin: Origin = DEFAULT_ORIGIN

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.name, self.type, self.private, self.unpriv, self.chroot, self.wakeup,
                self.maxproc, self.command)

    @property
    def key(self) -> str:
        """Postfix's name space of the service: ``name/type``."""
        return f"{self.name}/{self.type}"

    @property
    def is_smtpd_inet(self) -> bool:
        return self.type == "inet" and self.command.rsplit("/", 1)[-1] == "smtpd"


@dataclass(frozen=True, slots=True)
class MasterCf:
    path: str
    services: tuple[Service, ...]
    #: Non-fatal problems, in Postfix's words ("logical line must not start with whitespace").
    warnings: tuple[str, ...] = ()
    #: False for the implicit configuration used when there is no master.cf.
    exists: bool = True


def service_config(config: Config, service: Service) -> Config:
    """*config* as *service* sees it: its ``-o`` settings on top, and ``$service_name`` set to
    its name (as Postfix's master tells each daemon)."""
    name = Setting("service_name", service.name, service.origin)
    return config.with_overrides({"service_name": name, **service.overrides})


def default_master(path: str) -> MasterCf:
    """No master.cf: one SMTP server on port 25 of every ``inet_interfaces`` address."""
    service = Service("smtp", "inet", "n", "-", "n", "-", "-", "smtpd")
    return MasterCf(path, (service,), exists=False)


# -- parsing --------------------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, int]]:
    """mystrtokq(): fields separated by blanks, a ``{...}`` group staying whole; with offsets."""
    found: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in BLANKS:
            i += 1
        if i >= n:
            return found
        start, level = i, 0
        while i < n and (level > 0 or text[i] not in BLANKS):
            if text[i] == "{":
                level += 1
            elif text[i] == "}" and level > 0:
                level -= 1
            i += 1
        found.append((text[start:i], start))


def _ungroup(token: str, origin: Origin) -> str:
    """extpar(): ``{ text }`` → ``text``; Postfix's words for unbalanced braces."""
    level = 0
    for k, ch in enumerate(token):
        level += {"{": 1, "}": -1}.get(ch, 0)
        if level == 0:
            if k != len(token) - 1:
                raise Fatal(f"syntax error after '}}' in \"{token}\"", origin)
            return token[1:-1].strip(SPACE)
    raise Fatal(f"missing '}}' in \"{token}\"", origin)


def _check_fields(fields: list[str], text: str, origin: Origin) -> None:
    """pcf_check_master_entry(), with the file and line added."""
    def bad(index: int) -> Fatal:
        return Fatal(f'invalid {FIELD_NAMES[index]} field "{fields[index]}" in "{text}"', origin)

    if fields[1] not in TYPES:
        raise bad(1)
    for index in (2, 3, 4):
        if len(fields[index]) != 1 or fields[index] not in "yn-":
            raise bad(index)
    wakeup = fields[5].removesuffix("?")
    if wakeup != "-" and not re.fullmatch(r"[0-9]*", wakeup):
        raise bad(5)
    if fields[6] != "-" and not re.fullmatch(r"[0-9]*", fields[6]):
        raise bad(6)


def _setting(raw: str, origin: Origin) -> Setting:
    try:
        name, value = _split_nameval(raw)
    except ValueError as e:
        raise Fatal(f'invalid "-o {raw}" option value: {e}', origin) from None
    return Setting(name, value, origin)


def _arguments(
    tokens: list[tuple[str, int]], line: LogicalLine, path: str
) -> tuple[tuple[str, ...], dict[str, Setting]]:
    """The command's options and arguments, as the daemon's getopt() would read them."""
    args: list[str] = []
    overrides: dict[str, Setting] = {}
    i = 0
    while i < len(tokens) and tokens[i][0].startswith("-") and tokens[i][0] not in ("-", "--"):
        arg, offset = tokens[i]
        i += 1
        at = arg.find("o", 1)
        if at < 0:
            args.append(arg)
            continue
        if at > 1:
            args.append(arg[:at])  # "-vo x=y": -v, then -o
        origin = Origin(path, line.line_at(offset))
        if at + 1 < len(arg):
            value = arg[at + 1 :]  # "-oname=value"
        elif i < len(tokens):
            value, offset = tokens[i]
            origin = Origin(path, line.line_at(offset))
            i += 1
        else:
            raise Fatal("option requires an argument -- 'o'", origin)
        if value.startswith("{"):
            setting = _setting(_ungroup(value, origin), origin)
            value = f"{setting.name}={setting.value}"
        else:
            setting = _setting(value, origin)
        args += ["-o", value]
        overrides[setting.name] = setting
    for arg, offset in tokens[i:]:
        args.append(_ungroup(arg, Origin(path, line.line_at(offset))) if arg[:1] == "{" else arg)
    return tuple(args), overrides


def parse_entry(line: LogicalLine, path: str) -> Service:
    """One logical line of master.cf → Service; Fatal with the file and line if malformed."""
    origin = Origin(path, line.number)
    tokens = _tokens(line.text)
    if len(tokens) < len(FIELD_NAMES):
        raise Fatal("bad field count", origin)
    fields = [text for text, _ in tokens[: len(FIELD_NAMES)]]
    _check_fields(fields, line.text, origin)
    args, overrides = _arguments(tokens[len(FIELD_NAMES) :], line, path)
    name, kind, private, unpriv, chroot, wakeup, maxproc, command = fields
    return Service(name, kind, private, unpriv, chroot, wakeup, maxproc, command,
                   args, overrides, origin)


def parse_master_cf(text: str, path: str) -> MasterCf:
    warnings: list[str] = []
    services = tuple(parse_entry(line, path) for line in read_logical_lines(text, path, warnings))
    return MasterCf(path, services, tuple(warnings))


def read_master_cf(path: str) -> MasterCf:
    """The services of *path*; a missing file is Postfix's fatal "open PATH: ..." error."""
    return parse_master_cf(read_text(path), path)


def read_master_or_default(path: str) -> MasterCf:
    """*path*'s services, or the default service when there is no such file."""
    return read_master_cf(path) if os.path.lexists(path) else default_master(path)


def load_master_cf(path: str, config: Config) -> MasterCf:
    """What the relay runs: :func:`read_master_or_default`, with every SMTP server's listening
    address checked against *config*."""
    master = read_master_or_default(path)
    smtpd_listeners(master, config)
    return master


# -- listening endpoints --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listener:
    """Where one smtpd service listens.  *host* is an address or a host name to resolve;
    ``0.0.0.0`` and ``::`` mean every address (bind ``::`` with IPV6_V6ONLY, as Postfix does,
    when both are listed)."""

    host: str
    port: int
    service: Service


_LABEL = re.compile(r"\A[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return len(host) <= 255 and all(_LABEL.match(label) for label in host.split("."))


def parse_endpoint(name: str) -> tuple[str, str]:
    """Postfix's host_port() for a server: (host or "", port) from ``[host]:port``,
    ``host:port``, ``:port`` or ``port``; ValueError with Postfix's words."""
    if name.startswith("["):
        inside, bracket, rest = name[1:].partition("]")
        if not bracket:
            raise ValueError('missing "]"')
        if rest and not rest.startswith(":"):
            raise ValueError('garbage after "]"')
        host, port = inside, rest[1:]
        if host[:5].lower() == "ipv6:":
            host = host[5:]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError("malformed IPv6 address") from None
    elif ":" in name:
        host, _, port = name.rpartition(":")
    else:
        host, port = "", name
    if not port:
        raise ValueError("missing service information")
    if host and not _valid_host(host):
        raise ValueError("valid hostname or network address required")
    if port[0].isdigit() and not port.isdigit():
        raise ValueError("garbage after numerical service")
    return host, port


def service_ports(text: str) -> dict[str, int]:
    """``name -> port`` for the TCP services of an /etc/services text (aliases included)."""
    ports: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[1].endswith("/tcp") and words[1][:-4].isdigit():
            for name in [words[0], *words[2:]]:
                ports.setdefault(name, int(words[1][:-4]))
    return ports


def _port(port: str, known: Mapping[str, int], origin: Origin) -> int:
    number = int(port) if port.isdigit() else known.get(port, WELL_KNOWN_PORTS.get(port, -1))
    if number < 0:
        raise Fatal(f"unknown service: {port}/tcp", origin)
    if not 0 < number < 65536:
        raise Fatal(f"bad port number: {port}", origin)
    return number


def interface_addresses(config: Config) -> list[str]:
    """The addresses of ``inet_interfaces`` for the ``inet_protocols`` in use."""
    protocols = {p.lower() for p in config.get_list("inet_protocols")}
    if "all" in protocols:
        protocols = {"ipv4", "ipv6"}
    interfaces = config.get_list("inet_interfaces")
    lowered = [i.lower() for i in interfaces]
    if "all" in lowered:
        return [a for p, a in (("ipv4", "0.0.0.0"), ("ipv6", "::")) if p in protocols]
    if "loopback-only" in lowered:
        return [a for p, a in (("ipv4", "127.0.0.1"), ("ipv6", "::1")) if p in protocols]
    return [i[1:-1] if i.startswith("[") and i.endswith("]") else i for i in interfaces]


def smtpd_listeners(
    master: MasterCf, config: Config, services_file: str = SERVICES_FILE
) -> list[Listener]:
    """Every (address, port) an smtpd service of *master* listens on, in master.cf order."""
    try:
        with open(services_file, encoding="utf-8", errors="replace") as f:
            known = service_ports(f.read())
    except OSError:
        known = {}
    listeners: list[Listener] = []
    for service in master.services:
        if not service.is_smtpd_inet:
            continue
        if service.private != "n":  # "-" is the default, "y"
            raise Fatal("inet service cannot be private", service.origin)
        try:
            host, port = parse_endpoint(service.name)
        except ValueError as e:
            raise Fatal(f'{e} in "{service.name}"', service.origin) from None
        number = _port(port, known, service.origin)
        hosts = [host] if host else interface_addresses(config)
        listeners += [Listener(h, number, service) for h in hosts]
    return listeners
