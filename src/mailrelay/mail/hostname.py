"""Host name and address syntax exactly as Postfix checks it (valid_hostname.c and friends).

These decide ``reject_invalid_helo_hostname``, ``reject_non_fqdn_*`` and whether a name is
numeric, so they follow Postfix character for character rather than the RFCs: ``_`` is
allowed in labels ("grr.."), a name made only of digits and dots is not a host name, an IPv4
address must have four octets with no leading ``0.``, and ``IPv6:`` literals are accepted
case-insensitively.
"""

from __future__ import annotations

import re

VALID_HOSTNAME_LEN = 255
VALID_LABEL_LEN = 63
_HEX = frozenset("0123456789abcdefABCDEF")


#: Dot-separated ASCII labels of 1 to 63 letters, digits, ``_`` and inner ``-``; possessive,
#: so that an over-long label fails at once instead of backtracking through it.
_LABEL = rf"(?!-)[A-Za-z0-9_-]{{1,{VALID_LABEL_LEN}}}+(?<!-)"
_PLAIN_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*+")
_NON_NUMERIC = re.compile(r"[A-Za-z_]")


def valid_hostname(name: str) -> bool:
    """Letters, digits, ``_``, inner ``-``; no empty label; not all numeric; length limits."""
    if not name or len(name) > VALID_HOSTNAME_LEN:
        return False
    # Called for every HELO, sender and recipient domain, and the per-character loop of
    # _valid_hostname_general() showed in the per-command profile: a regex settles the
    # well-formed names in C.  Anything it does not match takes the reference loop, so the
    # regex only has to be right about the names it accepts.
    if _PLAIN_HOSTNAME.fullmatch(name) is not None:
        return _NON_NUMERIC.search(name) is not None
    return _valid_hostname_general(name)


def _valid_hostname_general(name: str) -> bool:
    """The reference valid_hostname() loop, for the names the regex does not match."""
    if not name or len(name) > VALID_HOSTNAME_LEN:
        return False
    non_numeric = False
    for label in name.split("."):
        if not label or len(label) > VALID_LABEL_LEN:
            return False
        if label[0] == "-" or label[-1] == "-":
            return False
        for ch in label:
            if ch == "-":
                continue
            if not (ch.isascii() and (ch.isalnum() or ch == "_")):
                return False
            if not ch.isdigit():
                non_numeric = True
    return non_numeric


def valid_ipv4_hostaddr(addr: str) -> bool:
    """Dotted quad; ``0.0.0.0`` is allowed but ``0.1.2.3`` is not (as Postfix)."""
    octets = addr.split(".")
    if len(octets) != 4 or not all(o.isascii() and o.isdigit() for o in octets):
        return False
    if any(int(o) > 255 for o in octets):
        return False
    return not (int(octets[0]) == 0 and not set(addr) <= {"0", "."})


def valid_ipv6_hostaddr(addr: str) -> bool:
    """valid_ipv6_hostaddr(), step for step: hex fields, one ``::``, optional IPv4 tail.

    Like Postfix it is lenient about the number of fields without ``::`` (``1:2:3`` passes):
    it screens out malformed input, it does not prove that an address is routable.
    """
    null_field = field = i = length = 0
    while True:
        if i == len(addr):
            return field >= 2 and (length > 0 or null_field == field - 1)
        ch = addr[i]
        if ch == ".":
            return 2 <= field <= 6 and valid_ipv4_hostaddr(addr[i - length:])
        if ch == ":":
            if field == 0 and length == 0 and addr[i + 1:i + 2].isalnum():
                return False
            field += 1
            if field > 7:
                return False
            i += 1
            length = 0
            if addr[i:i + 1] == ":":
                if null_field > 0:
                    return False
                null_field = field
            continue
        j = i
        while j < len(addr) and addr[j] in _HEX:
            j += 1
        length = j - i
        if length == 0 or length > 4:
            return False
        i = j


def valid_hostaddr(addr: str) -> bool:
    if not addr:
        return False
    return valid_ipv6_hostaddr(addr) if ":" in addr else valid_ipv4_hostaddr(addr)


def valid_mailhost_addr(addr: str) -> str | None:
    """The bare address of an address literal's contents (``IPv6:`` removed), or None."""
    if addr[:5].lower() == "ipv6:":
        bare = addr[5:]
        return bare if valid_ipv6_hostaddr(bare) else None
    return addr if valid_ipv4_hostaddr(addr) else None


def valid_utf8_hostname(name: str, smtputf8: bool) -> bool:
    """valid_hostname(), also for an internationalized name when the client asked SMTPUTF8."""
    if name.isascii() or not smtputf8:
        return valid_hostname(name)
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return valid_hostname(ascii_name)


def dup_if_truncate(name: str) -> str:
    """Drop one trailing dot, but not from ``..``: Postfix checks ``name.`` as ``name``."""
    if len(name) > 1 and name[-1] == "." and name[-2] != ".":
        return name[:-1]
    return name
