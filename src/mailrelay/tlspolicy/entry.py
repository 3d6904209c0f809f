"""One smtp_tls_policy_maps entry: ``secure match=nexthop:dot-nexthop protocols=>=TLSv1.2``.

The value is a security level followed by ``name=value`` attributes, separated by white
space or commas.  Errors are Postfix's (captured from Postfix 3.7.11, see
``tests/golden/smtp_tls/``): each one is a warning naming the table and the destination --
``smtp_tls_policy_maps, next-hop destination "[mx]:587": invalid security level "must"``
-- and the delivery is deferred with ``4.7.5 client TLS configuration problem``.  Attributes
of a ``none`` entry are ignored with a warning; the entry itself stands.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailrelay.mail.hostname import valid_hostname

#: The level keywords Postfix accepts (case does not matter), weakest first.
KEYWORDS = ("none", "may", "encrypt", "fingerprint", "dane", "dane-only", "verify", "secure")
_SEPARATORS = re.compile(r"[, \t\r\n]+")

CONFIG_PROBLEM = "client TLS configuration problem"


class Level(enum.Enum):
    """The smtp client's TLS security levels, weakest first."""

    NONE = "none"
    MAY = "may"
    ENCRYPT = "encrypt"
    FINGERPRINT = "fingerprint"
    VERIFY = "verify"
    SECURE = "secure"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {level: rank for rank, level in enumerate(Level)}


class TlsPolicyError(ValueError):
    """A policy Postfix refuses: defer the delivery.

    ``str()`` is the reason of the deferral (``client TLS configuration problem``, as
    Postfix's); ``warnings`` are the log lines that explain it, with their ``warning: ``
    prefix; ``dsn`` is the enhanced status code.
    """

    def __init__(self, warnings: Sequence[str], reason: str = CONFIG_PROBLEM,
                 dsn: str = "4.7.5") -> None:
        super().__init__(reason)
        self.warnings = tuple(warnings)
        self.reason = reason
        self.dsn = dsn


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    #: The level keyword, lower case, as in :data:`KEYWORDS` (``dane`` is kept as such).
    keyword: str
    ciphers: str | None = None
    protocols: str | None = None
    exclude: str | None = None
    #: Names or strategies (``verify``/``secure``) or fingerprints (``fingerprint``).
    match: tuple[str, ...] | None = None
    servername: str | None = None
    warnings: tuple[str, ...] = ()


def level_keyword(text: str) -> str | None:
    folded = text.strip().lower()
    return folded if folded in KEYWORDS else None


def split_nameval(token: str) -> tuple[str, str] | str:
    """(name, value) of ``name=value``, or Postfix's split_nameval() complaint."""
    name, equals, value = token.partition("=")
    if not name.strip():
        return "missing attribute name"
    if not equals:
        return "missing '=' after attribute name"
    return name.strip(), value.strip()


class _Builder:
    """The attributes of one entry as they are read, with Postfix's checks."""

    def __init__(self, keyword: str, where: str) -> None:
        self.keyword = keyword
        self.where = where
        self.single: dict[str, str] = {}
        self.match: list[str] | None = None

    def fail(self, text: str) -> TlsPolicyError:
        return TlsPolicyError([f"warning: {self.where}: {text}"])

    def once(self, name: str, value: str) -> None:
        if name.lower() in self.single:
            raise self.fail(f'attribute "{name}" is specified multiple times')
        self.single[name.lower()] = value

    def add(self, name: str, value: str) -> None:
        key = name.lower()
        if key in ("ciphers", "match") and not value:
            raise self.fail(f'attribute "{name}" has empty value')
        if key in ("ciphers", "protocols", "exclude"):
            self.once(name, value)
        elif key == "servername":
            if not valid_hostname(value):
                raise self.fail(f'"{name}={value}" specifies an invalid hostname')
            self.once(name, value)
        elif key == "match":
            self.add_match(name, value)
        elif key == "connection_reuse":
            if value.lower() not in ("yes", "no"):
                raise self.fail(f'attribute "{name}" has bad value: "{value}"')
        elif key == "tafile":
            if self.keyword not in ("verify", "secure"):
                raise self.fail(f'attribute "{name}" invalid at security level '
                                f'"{self.keyword}"')
            raise self.fail(f'attribute "{name}" is not supported by mailrelay')
        else:
            raise self.fail(f'invalid attribute name: "{name}"')

    def add_match(self, name: str, value: str) -> None:
        if self.keyword == "fingerprint":
            separator = "|"
        elif self.keyword in ("verify", "secure"):
            separator = ":"
        else:
            raise self.fail(f'attribute "{name}" invalid at security level "{self.keyword}"')
        self.match = (self.match or []) + [v for v in value.split(separator) if v]


def parse_entry(value: str, where: str) -> PolicyEntry:
    """Read one entry; *where* names it in messages (``smtp_tls_policy_maps, next-hop
    destination "[mx]:587"``).  Raises TlsPolicyError as Postfix's tls_policy_lookup_one()."""
    tokens = [t for t in _SEPARATORS.split(value) if t]
    if not tokens:
        raise TlsPolicyError([f"warning: {where}: invalid empty policy"])
    keyword = level_keyword(tokens[0])
    if keyword is None:
        raise TlsPolicyError([f'warning: {where}: invalid security level "{tokens[0]}"'])
    if keyword == "none":
        return PolicyEntry(keyword, warnings=tuple(
            f'warning: {where}: ignoring attribute "{t}" with TLS disabled' for t in tokens[1:]))
    builder = _Builder(keyword, where)
    for token in tokens[1:]:
        pair = split_nameval(token)
        if isinstance(pair, str):
            raise builder.fail(f'malformed attribute/value pair "{token}": {pair}')
        builder.add(*pair)
    s = builder.single
    return PolicyEntry(keyword, s.get("ciphers"), s.get("protocols"), s.get("exclude"),
                       tuple(builder.match) if builder.match is not None else None,
                       s.get("servername"))

