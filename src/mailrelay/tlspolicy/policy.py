"""The smtp client's TLS policy for one nexthop: Postfix's smtp_tls_policy.c, pure.

Theory of operation.  The level comes from the first of:

1. ``smtp_tls_policy_maps``, looked up with the nexthop exactly as the route gave it
   (``[smtp.office365.com]:587``, ``[mx]``, ``mx:587``, ``example.com``): one lookup when it
   is not a plain host name (brackets, a port, an address); otherwise the name, then its
   parent domains with a leading dot (``sub.example.com``, ``.example.com``, ``.com``) --
   ``example.com`` in the table does not cover ``sub.example.com``;
2. ``smtp_tls_security_level``; when that is empty, the obsolete ``smtp_enforce_tls``
   (``verify``, or ``encrypt`` with ``smtp_tls_enforce_peername = no``) and ``smtp_use_tls``
   (``may``); else ``none``.

Then the main.cf defaults fill what the entry does not say: ``may`` uses
``smtp_tls_protocols``/``smtp_tls_ciphers``/``smtp_tls_exclude_ciphers``; ``encrypt`` and
stronger use the ``smtp_tls_mandatory_*`` ones (``smtp_tls_exclude_ciphers`` still applies,
and ``exclude=`` replaces only the mandatory exclusions), plus ``aNULL`` for the levels that
check the certificate; ``verify``, ``secure`` and ``fingerprint`` take their match list
from ``smtp_tls_verify_cert_match``, ``smtp_tls_secure_cert_match`` and
``smtp_tls_fingerprint_cert_match``.

DANE needs DNSSEC lookups, which mailrelay does not make: as Postfix without them, ``dane``
becomes ``may`` with the warning ``[mx]:25: dane configured with dnssec lookups disabled``,
and ``dane-only`` defers (``client TLS configuration problem``).  A bad entry defers too
(:class:`TlsPolicyError`); a bad ``smtp_tls_security_level`` is fatal, as in Postfix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailrelay.config.model import Config
from mailrelay.mail.hostname import valid_utf8_hostname
from mailrelay.maps.base import MapLookupError
from mailrelay.maps.lookup import Maps
from mailrelay.maps.registry import MapCache
from mailrelay.tlspolicy.entry import (
    Level,
    PolicyEntry,
    TlsPolicyError,
    level_keyword,
    parse_entry,
)
from mailrelay.tlspolicy.match import certificate_matches, parse_fingerprint
from mailrelay.util.diagnostic import Fatal

__all__ = ["Level", "TlsPolicies", "TlsPolicy", "TlsPolicyError", "certificate_matches"]

_TABLE = "smtp_tls_policy_maps"
_LIST = re.compile(r"[\s,:]+")
_FINGERPRINT_LIST = re.compile(r"[\s,|]+")
_LEVELS = {level.value: level for level in Level}


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    level: Level
    #: A Postfix protocol list (``>=TLSv1.2``, ``!SSLv2:!SSLv3``).
    protocols: str
    #: The cipher grade (``medium``).
    ciphers: str
    #: Cipher names or properties to exclude, blank-separated (``aNULL MD5``).
    exclude_ciphers: str
    #: Names and strategies (verify, secure) or fingerprints in upper-case hex (fingerprint).
    match: tuple[str, ...]
    #: What decided: ``smtp_tls_policy_maps (main.cf:12): [mx]:587 encrypt``.
    source: str
    #: Log lines Postfix writes when it uses this policy, ``warning: ``-prefixed.
    warnings: tuple[str, ...] = ()
    #: The policy's ``servername=`` (the SNI name to send), if any.
    servername: str = ""

    @property
    def required(self) -> bool:
        """TLS is mandatory: no delivery in the clear."""
        return self.level.rank >= Level.ENCRYPT.rank

    @property
    def verified(self) -> bool:
        """The server certificate must be verified (by name or by fingerprint)."""
        return self.level in (Level.FINGERPRINT, Level.VERIFY, Level.SECURE)


def _where(config: Config, name: str) -> str:
    """``main.cf:12``, or ``default`` for a parameter main.cf does not set."""
    origin = config.origin(name)
    return f"{origin.file}:{origin.line}" if origin.line else origin.file.strip("()")


def global_level(config: Config) -> tuple[str, str]:
    """(level keyword, source) of main.cf's default level."""

    def said(name: str, value: str) -> str:
        return f"{name} ({_where(config, name)}): {value}"

    raw = config.get_str("smtp_tls_security_level").strip()
    if raw:
        keyword = level_keyword(raw)
        if keyword is None:
            raise Fatal(f'Invalid TLS level "{raw}"', config.origin("smtp_tls_security_level"),
                        "smtp_tls_security_level")
        return keyword, said("smtp_tls_security_level", raw)
    if config.get_bool("smtp_enforce_tls"):
        peername = config.get_bool("smtp_tls_enforce_peername")
        return ("verify" if peername else "encrypt",
                said("smtp_enforce_tls", "yes") + ", "
                + said("smtp_tls_enforce_peername", "yes" if peername else "no"))
    if config.get_bool("smtp_use_tls"):
        return "may", said("smtp_use_tls", "yes")
    return "none", said("smtp_tls_security_level", "none")


class TlsPolicies:
    """The TLS policy of every nexthop of one configuration (tables opened once)."""

    def __init__(self, config: Config, maps: Maps | None) -> None:
        self._config = config
        self._maps = maps
        self._global = global_level(config)
        self._smtputf8 = config.get_bool("smtputf8_enable")
        self._table_origin = _where(config, _TABLE)

    @classmethod
    def from_config(cls, config: Config, cache: MapCache) -> TlsPolicies:
        value = config.get_str(_TABLE)
        if not value.strip() and config.get_str("smtp_tls_per_site").strip():
            raise Fatal("smtp_tls_per_site is not supported by mailrelay: use "
                        "smtp_tls_policy_maps", config.origin("smtp_tls_per_site"),
                        "smtp_tls_per_site")
        return cls(config, cache.maps(value, _TABLE) if value.strip() else None)

    def lookup(self, nexthop: str, domain: str) -> TlsPolicy:
        """The policy for a delivery to *nexthop* (as routed; the recipient *domain* is used
        only when the nexthop is empty).  TlsPolicyError: defer the delivery."""
        dest = nexthop or domain
        found = self._table_lookup(dest) if self._maps is not None and dest else None
        if found is None:
            keyword, source = self._global
            entry = PolicyEntry(keyword)
        else:
            key, value = found
            entry = parse_entry(value, self._describe(dest))
            keyword, source = entry.keyword, f"{_TABLE} ({self._table_origin}): {key} {value}"
        return self._complete(entry, keyword, source, dest)

    def _describe(self, dest: str) -> str:
        return f'{_TABLE}, next-hop destination "{dest}"'

    def _table_lookup(self, dest: str) -> tuple[str, str] | None:
        assert self._maps is not None
        keys = [dest]
        if valid_utf8_hostname(dest, self._smtputf8):
            name = dest
            while (dot := name.find(".", 1)) >= 0:
                name = name[dot:]
                keys.append(name)
        for key in keys:
            try:
                value = self._maps.find(key)
            except MapLookupError:
                raise TlsPolicyError([f"warning: {self._describe(dest)}: "
                                      "policy table lookup error"]) from None
            if value is not None:
                return key, value
        return None

    def _complete(self, entry: PolicyEntry, keyword: str, source: str,
                  dest: str) -> TlsPolicy:
        warnings = list(entry.warnings)
        if keyword == "dane-only":
            raise TlsPolicyError([*warnings,
                                  f"warning: {dest}: dane-only configured with dnssec lookups "
                                  "disabled"])
        if keyword == "dane":
            warnings.append(f"warning: {dest}: dane configured with dnssec lookups disabled")
            keyword = "may"
        level = _LEVELS[keyword]
        if level is Level.NONE:
            return TlsPolicy(level, "", "", "", (), source, tuple(warnings))
        c = self._config
        prefix = "smtp_tls_" if level is Level.MAY else "smtp_tls_mandatory_"
        protocols = entry.protocols if entry.protocols is not None else c.get_str(
            prefix + "protocols")
        ciphers = entry.ciphers or c.get_str(prefix + "ciphers")
        match = self._match(level, entry, dest, warnings)
        return TlsPolicy(level, protocols.strip(), ciphers.strip(),
                         self._exclusions(level, entry), match, source, tuple(warnings),
                         entry.servername or "")

    def _exclusions(self, level: Level, entry: PolicyEntry) -> str:
        c = self._config
        if level is Level.MAY:
            parts = [entry.exclude if entry.exclude is not None
                     else c.get_str("smtp_tls_exclude_ciphers")]
        else:
            parts = [c.get_str("smtp_tls_exclude_ciphers"),
                     entry.exclude if entry.exclude is not None
                     else c.get_str("smtp_tls_mandatory_exclude_ciphers")]
            # Anonymous ciphers cannot show a certificate to check.
            if level.rank >= Level.FINGERPRINT.rank:
                parts.append("aNULL")
        return " ".join(t for p in parts for t in _LIST.split(p) if t)

    def _match(self, level: Level, entry: PolicyEntry, dest: str,
               warnings: list[str]) -> tuple[str, ...]:
        c = self._config
        if level in (Level.VERIFY, Level.SECURE):
            if entry.match is not None:
                return entry.match
            name = f"smtp_tls_{level.value}_cert_match"
            return tuple(t for t in _LIST.split(c.get_str(name)) if t)
        if level is not Level.FINGERPRINT:
            return ()
        values = entry.match if entry.match is not None else tuple(
            _FINGERPRINT_LIST.split(c.get_str("smtp_tls_fingerprint_cert_match")))
        fingerprints = []
        for value in (v for v in values if v):
            parsed = parse_fingerprint(value)
            if parsed is None:
                warnings.append(f"warning: malformed fingerprint value: {value[:100]}")
            else:
                fingerprints.append(parsed)
        if not fingerprints:
            raise TlsPolicyError([*warnings,
                                  f"warning: nexthop domain {dest}: configured at fingerprint "
                                  "security level, but with no fingerprints to match."])
        return tuple(fingerprints)
