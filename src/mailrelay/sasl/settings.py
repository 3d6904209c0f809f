"""The smtp client's SASL settings: which credentials for which server, which mechanisms.

Credentials (``smtp_sasl_password_maps``, values ``username:password``; the password may
contain ``:`` and may be empty) are looked up as Postfix's smtp_sasl_passwd_lookup() does,
checked against Postfix 3.7.11 (``tests/golden/smtp_tls/README.md``):

1. with ``smtp_sender_dependent_authentication = yes`` and a non-null sender, the sender in
   the address lookup order (``user+ext@domain``, ``user@domain``, ``user+ext`` and ``user``
   when the domain is local, ``@domain``); the null sender is never looked up;
2. the server's host name (``smtp.example.com``, without brackets or port);
3. the nexthop as routed (``[smtp.example.com]:587``, ``example.com``).  ``[host]`` does not
   match a delivery to ``[host]:587``, nor ``host:587`` one to ``[host]:587``.

Mechanisms: the server's list, less what ``smtp_sasl_mechanism_filter`` leaves out (names,
``!name``, ``/file/name`` and ``type:table`` patterns, the first that matches decides), less
what the security options forbid (``smtp_sasl_security_options`` in the clear,
``smtp_sasl_tls_security_options`` over TLS, ``smtp_sasl_tls_verified_security_options``
over verified TLS), limited to those mailrelay implements, PLAIN then LOGIN: Cyrus SASL,
which Postfix uses, prefers a client-first mechanism (PLAIN) to LOGIN whatever the server's
order (seen with a server offering ``AUTH LOGIN PLAIN``).  PLAIN and LOGIN send the password
itself: ``noplaintext``, ``noactive``, ``nodictionary`` and ``mutual_auth`` each forbid them.

A table that cannot answer raises MapLookupError: the caller defers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mailrelay.config.model import Config
from mailrelay.maps.base import Map, MapError
from mailrelay.maps.lookup import Strategy, address_lookup
from mailrelay.maps.registry import MapCache
from mailrelay.util.diagnostic import Fatal
from mailrelay.util.tokens import split_list

#: What mailrelay can speak, most preferred first.
IMPLEMENTED = ("PLAIN", "LOGIN")
#: Cyrus SASL's client security options.
SECURITY_OPTIONS = frozenset({"noplaintext", "noactive", "nodictionary", "noanonymous",
                              "mutual_auth"})
#: The options that rule out mechanisms which send the password itself (PLAIN, LOGIN).
_NO_PASSWORD = frozenset({"noplaintext", "noactive", "nodictionary", "mutual_auth"})
_PASSWORD_MAPS = "smtp_sasl_password_maps"


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    #: The lookup key that found them (``[smtp.office365.com]:587``, ``user@example.com``).
    key: str
    #: ``smtp_sasl_password_maps (main.cf:12)``.
    origin: str


class _Filter:
    """smtp_sasl_mechanism_filter as Postfix's string_list: patterns in order, ``!`` negates."""

    def __init__(self, items: Sequence[str], cache: MapCache) -> None:
        self.patterns: list[tuple[bool, str, Map | None]] = []
        self._add(items, cache, False)

    def _add(self, items: Sequence[str], cache: MapCache, negate: bool) -> None:
        for item in items:
            negated = negate
            while item.startswith("!"):
                negated, item = not negated, item[1:]
            if item.startswith("/"):
                self._add(_read_patterns(item), cache, negated)
            elif ":" in item:
                self.patterns.append((negated, item, cache.get(item)))
            elif item:
                self.patterns.append((negated, item.lower(), None))

    def allows(self, mechanism: str) -> bool:
        for negated, text, table in self.patterns:
            hit = table.lookup(mechanism) is not None if table else mechanism.lower() == text
            if hit:
                return not negated
        return False


def _read_patterns(path: str) -> list[str]:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise MapError(f"open file {path}: {e.strerror}") from None
    return [p for line in text.splitlines() for p in split_list(line.split("#", 1)[0])]


def _options(config: Config, name: str) -> frozenset[str]:
    options = frozenset(o.lower() for o in config.get_list(name))
    unknown = sorted(options - SECURITY_OPTIONS)
    if unknown:
        raise Fatal(f'unknown {name} value "{unknown[0]}" in "{config.get_str(name)}"',
                    config.origin(name), name)
    return options


class SaslClientSettings:
    """The SASL side of one smtp client configuration (tables opened once)."""

    def __init__(self, config: Config, cache: MapCache,
                 local_domain: Callable[[str], bool] | None = None) -> None:
        self.enabled = config.get_bool("smtp_sasl_auth_enable")
        self.auth_soft_bounce = config.get_bool("smtp_sasl_auth_soft_bounce")
        self.sender_dependent = config.get_bool("smtp_sender_dependent_authentication")
        self._delimiter = config.get_str("recipient_delimiter")
        value = config.get_str(_PASSWORD_MAPS)
        self._maps = cache.maps(value, _PASSWORD_MAPS) if value.strip() else None
        origin = config.origin(_PASSWORD_MAPS)
        where = f"{origin.file}:{origin.line}" if origin.line else origin.file.strip("()")
        self._origin = f"{_PASSWORD_MAPS} ({where})"
        self._local_domain = local_domain or _destinations(config)
        self._filter = _Filter(config.get_list("smtp_sasl_mechanism_filter"), cache)
        self._plain = _options(config, "smtp_sasl_security_options")
        self._tls = _options(config, "smtp_sasl_tls_security_options")
        self._verified = _options(config, "smtp_sasl_tls_verified_security_options")

    @classmethod
    def from_config(cls, config: Config, cache: MapCache, *,
                    local_domain: Callable[[str], bool] | None = None) -> SaslClientSettings:
        """*local_domain* says whether a sender domain is this machine's (for the ``user``
        lookup); by default, the literal names of ``mydestination``."""
        return cls(config, cache, local_domain)

    def credentials(self, host: str, port: int, bracketed: bool, sender: str, *,
                    nexthop: str | None = None) -> Credentials | None:
        """The credentials for a session with *host* (a name, no brackets), or None.

        *nexthop* is the nexthop as routed (``[host]:587``, ``example.com``); without it,
        it is rebuilt from *host*, *bracketed* and *port* (``:port`` unless 25)."""
        if self._maps is None:
            return None
        if self.sender_dependent and sender:
            match = address_lookup(self._maps, sender, delimiter=self._delimiter,
                                   local_domain=self._local_domain, strategy=Strategy.DEFAULT)
            if match is not None:
                return self._split(match.value, sender)
        if nexthop is None:
            nexthop = f"[{host}]" if bracketed else host
            nexthop += f":{port}" if port != 25 else ""
        for key in dict.fromkeys((host, nexthop)):
            value = self._maps.find(key)
            if value is not None:
                return self._split(value, key)
        return None

    def _split(self, value: str, key: str) -> Credentials:
        username, _, password = value.partition(":")
        return Credentials(username, password, key, self._origin)

    def allowed_mechanisms(self, offered: Sequence[str], tls_active: bool, *,
                           tls_verified: bool = False) -> list[str]:
        """The mechanisms to try, best first, among those the server *offered*."""
        names = {m.upper() for m in offered}
        if self._filter.patterns:
            names = {m for m in names if self._filter.allows(m)}
        options = self._verified if tls_verified else self._tls if tls_active else self._plain
        if options & _NO_PASSWORD:
            return []
        return [m for m in IMPLEMENTED if m in names]


def _destinations(config: Config) -> Callable[[str], bool]:
    names = {n.lower() for n in config.get_list("mydestination") if ":" not in n}

    def local(domain: str) -> bool:
        return domain.lower() in names

    return local
