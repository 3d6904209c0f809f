"""``cidr:`` tables (Postfix's cidr_table(5)): network patterns matched in file order.

Each rule is ``[!]network[/length] result`` (IPv4 or IPv6, optionally in ``[...]``), or
``if [!]network[/length]`` ... ``endif`` around a block that is searched only when the address
matches.  The first rule that matches the looked-up address wins; an address of the other
family matches no rule, not even a negated one.  A bad rule is skipped with Postfix's warning
(the table still opens), exactly as dict_cidr does.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mailrelay.maps.source import SPACE, IfBlocks, logical_lines, text
from mailrelay.maps.stamp import FileTable

_V4_TEXT = re.compile(r"[0-9.]+\Z")
_V6_TEXT = re.compile(r"[0-9A-Fa-f:.]+\Z")
_SPACE = SPACE.decode()
_IF = re.compile(r"if(?![0-9A-Za-z])", re.IGNORECASE)
_ENDIF = re.compile(r"endif(?![0-9A-Za-z])", re.IGNORECASE)
#: pattern, then the result after white space (C isspace(), not Unicode white space).
_FIELDS = re.compile(r"([^ \t\n\v\f\r]*)[ \t\n\v\f\r]*(.*)", re.DOTALL)


def parse_address(address: str) -> tuple[int, int] | None:
    """(family bits, integer) of an address as inet_pton() reads it, or None."""
    try:
        if ":" in address:
            if not _V6_TEXT.match(address):
                return None
            return 128, int(ipaddress.IPv6Address(address))
        if not _V4_TEXT.match(address):
            return None
        return 32, int(ipaddress.IPv4Address(address))
    except ValueError:
        return None


def format_address(bits: int, value: int) -> str:
    """inet_ntop(): glibc shows IPv4-mapped and IPv4-compatible IPv6 in dotted form."""
    if bits == 32:
        return str(ipaddress.IPv4Address(value))
    high = value >> 32
    low = str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if high == 0xFFFF:
        return "::ffff:" + low
    if high == 0 and value >> 16 != 0:
        return "::" + low
    return ipaddress.IPv6Address(value).compressed


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # "match", "if" or "endif"
    line: int
    bits: int = 0
    network: int = 0
    mask: int = 0
    positive: bool = True
    value: str = ""

    def matches(self, bits: int, address: int) -> bool:
        return bits == self.bits and ((address & self.mask) == self.network) == self.positive


class CidrSyntaxError(ValueError):
    """The reason a rule is skipped, in Postfix's words."""


def parse_pattern(pattern: str) -> tuple[int, int, int]:
    """(family bits, network, mask) of ``net/len``, ``[net]/len``, ``[net/len]`` or ``net``."""
    mask_search = pattern
    if pattern.startswith("["):
        inner, bracket, after = pattern[1:].partition("]")
        if not bracket:
            raise CidrSyntaxError(f"missing ']' character after \"[{inner}\"")
        if after and not after.startswith("/"):
            raise CidrSyntaxError(f'garbage after "[{inner}]"')
        pattern = inner + after
        mask_search = pattern
    net, slash, length = mask_search.partition("/")
    if not slash:
        parsed = parse_address(pattern)
        if parsed is None:
            raise CidrSyntaxError(f'bad address pattern: "{pattern}"')
        bits, network = parsed
        return bits, network, (1 << bits) - 1
    shown = f'"{net}/{length}"'
    if not length.isascii() or not length.isdigit():
        raise CidrSyntaxError(f"bad mask value in {shown}")
    bits = 128 if ":" in net else 32
    prefix = int(length)
    if prefix > bits:
        raise CidrSyntaxError(f"bad mask length in {shown}")
    parsed = parse_address(net)
    if parsed is None:
        raise CidrSyntaxError(f"bad network value in {shown}")
    mask = ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)
    network = parsed[1]
    if network & ~mask:
        better = format_address(bits, network & mask)
        raise CidrSyntaxError(f"non-null host address bits in {shown}, "
                              f'perhaps you should use "{better}/{prefix}" instead')
    return bits, network, mask


def _negations(text_: str) -> tuple[bool, str]:
    """Leading ``!`` (white space allowed after each) flips the sense of a pattern."""
    positive = True
    i = 0
    while i < len(text_) and (text_[i] == "!" or text_[i] in _SPACE):
        if text_[i] == "!":
            positive = not positive
        i += 1
    return positive, text_[i:]


def parse_rule(line: str, number: int, nesting: int) -> Rule:
    if _IF.match(line):
        positive, pattern = _negations(line[2:].strip(_SPACE))
        if not pattern:
            raise CidrSyntaxError("no address pattern")
        bits, network, mask = parse_pattern(pattern)
        return Rule("if", number, bits, network, mask, positive)
    if _ENDIF.match(line):
        if line[5:].strip(_SPACE):
            raise CidrSyntaxError("garbage after ENDIF")
        if nesting == 0:
            raise CidrSyntaxError("ENDIF without IF")
        return Rule("endif", number)
    positive, rest = _negations(line)
    fields = _FIELDS.fullmatch(rest)
    assert fields is not None  # the expression matches any text
    pattern, value = fields[1], fields[2].rstrip(_SPACE)
    if not pattern:
        raise CidrSyntaxError("no address pattern")
    bits, network, mask = parse_pattern(pattern)
    if not value:
        raise CidrSyntaxError("no lookup result")
    return Rule("match", number, bits, network, mask, positive, value)


class CidrTable(FileTable):
    __slots__ = ("_ends", "_rules")
    is_pattern = True

    def __init__(self, name: str, *, fold_case: bool = True) -> None:
        super().__init__("cidr", name, fold_case)
        self._rules: list[Rule] = []
        blocks = IfBlocks()
        for number, raw in logical_lines(self.read(), name, self.warnings.append):
            try:
                rule = parse_rule(text(raw), number, blocks.nesting)
            except CidrSyntaxError as why:
                self.warnings.append(f"cidr map {name}, line {number}: {why}: "
                                     "skipping this rule")
                continue
            if rule.kind == "if":
                blocks.opened(len(self._rules))
            elif rule.kind == "endif":
                blocks.closed(len(self._rules))
            self._rules.append(rule)
        for index in blocks.unclosed():
            self.warnings.append(f"cidr map {name}, line {self._rules[index].line}: "
                                 "IF has no matching ENDIF")
        self._ends = blocks.ends

    def lookup(self, key: str) -> str | None:
        parsed = parse_address(key)
        if parsed is None:
            return None
        bits, address = parsed
        rules = self._rules
        i = 0
        while i < len(rules):
            rule = rules[i]
            if rule.kind == "match":
                if rule.matches(bits, address):
                    return rule.value
            elif rule.kind == "if" and not rule.matches(bits, address):
                end = self._ends[i]
                if end is None:
                    return None
                i = end
            i += 1
        return None
