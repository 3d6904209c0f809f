"""Postfix's lookup order: which keys an address or a domain is looked up with, in which order.

Every Postfix feature that looks up an address (canonical, generic, virtual, sender-dependent
relayhost and SASL maps...) does it through mail_addr_find(); features that look up a domain
(access tables, transport) walk its parent domains.  This module is that logic, in one place,
with the caller's choices passed in explicitly (no configuration is read here):

* ``Maps.find(key, partial=...)`` is maps_find(): the tables of one parameter in order, the
  first answer wins; a *partial* key (``user``, ``@domain``, a parent domain) is not shown to
  pattern tables, which see only what the caller was really asked about; an empty result is
  a configuration error, not an answer.
* ``address_lookup()`` is mail_addr_find_opt(): for ``user+ext@domain`` with the default
  strategy, ``user+ext@domain``, ``user@domain``, then -- only when the domain is local
  (myorigin, mydestination, inet_interfaces: the caller says) -- ``user+ext`` and ``user``,
  then ``@domain``.  Other strategies add ``domain`` and its parents (transport) or
  ``user@`` (access).  Keys are tried in quoted form first (``"a b"@example.com``) and then
  as is, as Postfix 3.x does.
* ``domain_lookup()`` is the access-table walk: ``sub.example.com``, then ``example.com`` and
  ``com`` when the parameter is in ``parent_domain_matches_subdomains``, else ``.example.com``
  and ``.com``.

Tables fold their own keys (``Map.fold_case``), so keys are passed as they come.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

from mailrelay.maps.base import Map, MapLookupError


@dataclass(frozen=True, slots=True)
class Maps:
    """The tables of one ``*_maps`` parameter, searched in order (Postfix's MAPS)."""

    #: The parameter name, for messages (``smtp_generic_maps``).
    title: str
    tables: tuple[Map, ...]

    def find(self, key: str, *, partial: bool = False) -> str | None:
        if not key:
            return None
        for table in self.tables:
            if partial and table.is_pattern:
                continue
            try:
                value = table.lookup(key)
            except MapLookupError as e:
                raise MapLookupError(f"{table.spec} lookup of {key} failed") from e
            if value is not None:
                if not value:
                    raise MapLookupError(f"{self.title} lookup of {key} returns an empty "
                                         "string result")
                return value
        return None


class Strategy(enum.Flag):
    """Which derived keys address_lookup() tries (Postfix's MA_FIND_* flags), in this order."""

    FULL = enum.auto()  #: user+ext@domain
    NOEXT = enum.auto()  #: user@domain (and user, user@ below), extension removed
    LOCALPART_IF_LOCAL = enum.auto()  #: user+ext, user -- when the domain is local
    LOCALPART_AT_IF_LOCAL = enum.auto()  #: user+ext@, user@ -- when the domain is local
    AT_DOMAIN = enum.auto()  #: @domain
    DOMAIN = enum.auto()  #: domain
    PDMS = enum.auto()  #: with DOMAIN: parent domains (example.com matches sub.example.com)
    PDDMDS = enum.auto()  #: with DOMAIN: dot parents (.example.com matches sub.example.com)
    LOCALPART_AT = enum.auto()  #: user+ext@, user@ -- whatever the domain

    #: canonical(5), virtual(5), generic(5), sender-dependent maps.
    DEFAULT = FULL | NOEXT | LOCALPART_IF_LOCAL | AT_DOMAIN


def transport_strategy(parent_matches_subdomains: bool) -> Strategy:
    """transport(5): user+ext@domain, user@domain, domain, then parent domains.

    (``*`` is the caller's last resort, as in Postfix's transport_wildcard.)
    """
    parents = Strategy.PDMS if parent_matches_subdomains else Strategy.PDDMDS
    return Strategy.FULL | Strategy.NOEXT | Strategy.DOMAIN | parents


def access_strategy(parent_matches_subdomains: bool) -> Strategy:
    """access(5) for an address: user+ext@domain, user@domain, domain and parents, user+ext@,
    user@."""
    return transport_strategy(parent_matches_subdomains) | Strategy.LOCALPART_AT


@dataclass(frozen=True, slots=True)
class AddressMatch:
    value: str
    #: The extension (with its delimiter, ``+foo``) removed to find the match, else None:
    #: callers such as canonical mapping append it to the result
    #: (propagate_unmatched_extensions).
    extension: str | None = None


#: Local parts never split at a delimiter (Postfix's split_addr()).
_NEVER_SPLIT = ("postmaster", "mailer-daemon")


def split_localpart(localpart: str, delimiters: str,
                    double_bounce_sender: str = "double-bounce") -> tuple[str, str] | None:
    """(``user``, ``+ext``) of ``user+ext``, or None when it has no extension to remove."""
    if not delimiters:
        return None
    lowered = localpart.lower()
    if lowered in _NEVER_SPLIT or lowered == double_bounce_sender.lower():
        return None
    # Old-style mailing-list names keep their dashes when "-" is a delimiter.
    if "-" in delimiters and (lowered.startswith("owner-")
                              or (len(lowered) > 8 and lowered.endswith("-request"))):
        return None
    for i, c in enumerate(localpart):
        if c in delimiters:
            return (localpart[:i], localpart[i:]) if i > 0 else None
    return None


def strip_extension(address: str, delimiters: str) -> tuple[str, str] | None:
    """(``user@domain``, ``+ext``) of ``user+ext@domain``, or None (Postfix's strip_addr)."""
    at = address.rfind("@")
    localpart, domain = (address, "") if at < 0 else (address[:at], address[at:])
    split = split_localpart(localpart, delimiters)
    if split is None:
        return None
    return split[0] + domain, split[1]


#: An RFC 5322 dot-atom as Postfix's quote_822_local() sees it: no specials, no blanks or
#: controls, no leading, trailing or double dot (8-bit characters are fine).
_ATOM = r'[^\x00-\x20\x7f()<>@,;:\\"\[\].]+'
_DOT_STRING = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")


def _is_dot_string(localpart: str) -> bool:
    return _DOT_STRING.fullmatch(localpart) is not None


def quote_localpart(address: str, *, bare: bool = False) -> str:
    """The external (RFC 5322 quoted) form of an address, or of a bare local part."""
    at = len(address) if bare else address.rfind("@")
    if at < 0:
        at = len(address)
    localpart = address[:at]
    if _is_dot_string(localpart):
        return address
    escaped = localpart.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"{address[at:]}'


LocalDomain = Callable[[str], bool] | bool


class _AddressSearch:
    """One mail_addr_find_opt() call: the address, its bare form, and the tables."""

    def __init__(self, maps: Maps, address: str, delimiters: str, strategy: Strategy) -> None:
        self.maps = maps
        self.full = address
        stripped = strip_extension(address, delimiters) if Strategy.NOEXT in strategy else None
        self.bare: str | None = stripped[0] if stripped else None
        self.extension: str | None = stripped[1] if stripped else None

    def find(self, key: str, *, partial: bool, with_domain: bool = True) -> str | None:
        external = quote_localpart(key, bare=not with_domain)
        value = self.maps.find(external, partial=partial)
        if value is None and external != key:
            value = self.maps.find(key, partial=partial)
        return value

    def local(self, at_sign: bool) -> AddressMatch | None:
        """``user+ext`` then ``user`` (or with ``@`` at the end) of a local address."""
        offset = 1 if at_sign else 0
        key = self.full[: self.full.rfind("@") + offset]
        value = self.find(key, partial=True, with_domain=at_sign)
        if value is not None:
            return AddressMatch(value)
        if self.bare is not None:
            key = self.bare[: self.bare.rfind("@") + offset]
            value = self.find(key, partial=True, with_domain=at_sign)
            if value is not None:
                return AddressMatch(value, self.extension)
        return None


def address_lookup(
    maps: Maps,
    address: str,
    *,
    delimiter: str = "",
    local_domain: LocalDomain = False,
    strategy: Strategy = Strategy.DEFAULT,
) -> AddressMatch | None:
    """Look *address* up the way Postfix's mail_addr_find_opt() does.

    *delimiter* is ``recipient_delimiter`` (one or more characters; empty: no extensions).
    *local_domain* says whether a domain is this machine's (``$myorigin``, ``$mydestination``,
    ``$inet_interfaces``...): a predicate, or a constant.  MapLookupError means "try again".
    """
    search = _AddressSearch(maps, address, delimiter, strategy)
    full = address
    if Strategy.FULL in strategy:
        value = search.find(full, partial=False)
        if value is not None:
            return AddressMatch(value)
    if search.bare is not None:
        value = search.find(search.bare, partial=True)
        if value is not None:
            return AddressMatch(value, search.extension)
    at = full.rfind("@")
    if at < 0:
        return None
    domain = full[at + 1 :]
    if strategy & (Strategy.LOCALPART_IF_LOCAL | Strategy.LOCALPART_AT_IF_LOCAL) and (
        local_domain(domain) if callable(local_domain) else local_domain
    ):
        for at_sign, flag in ((False, Strategy.LOCALPART_IF_LOCAL),
                              (True, Strategy.LOCALPART_AT_IF_LOCAL)):
            if flag in strategy:
                match = search.local(at_sign)
                if match is not None:
                    return match
    if Strategy.AT_DOMAIN in strategy:
        value = maps.find(full[at:], partial=True)
        if value is not None:
            return AddressMatch(value)
    if Strategy.DOMAIN in strategy:
        value = _domain_walk(maps, domain, strategy)
        if value is not None:
            return AddressMatch(value)
    if Strategy.LOCALPART_AT in strategy:
        return search.local(at_sign=True)
    return None


def _domain_walk(maps: Maps, domain: str, strategy: Strategy) -> str | None:
    name = domain
    while name:
        value = maps.find(name, partial=True)
        if value is not None or not strategy & (Strategy.PDMS | Strategy.PDDMDS):
            return value
        dot = name.find(".", 1)
        if dot < 0:
            return None
        name = name[dot:] if Strategy.PDDMDS in strategy else name[dot + 1 :]
    return None


def domain_lookup(maps: Maps, domain: str, *, parent_matches_subdomains: bool,
                  partial: bool = False) -> str | None:
    """Look up a domain, then its parents, as Postfix's access tables do.

    *parent_matches_subdomains*: the parameter is listed in ``parent_domain_matches_subdomains``
    (``example.com`` matches ``sub.example.com``); otherwise only ``.example.com`` does.
    The first lookup is a full key (pattern tables see it) unless *partial* (the domain of an
    address being looked up); parent domains are always partial keys.
    """
    name = domain
    while name:
        value = maps.find(name, partial=partial)
        if value is not None:
            return value
        dot = name.find(".", 1)
        if dot < 0:
            return None
        name = name[dot + 1 :] if parent_matches_subdomains else name[dot:]
        partial = True
    return None
