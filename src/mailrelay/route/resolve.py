"""Recipient -> (transport, nexthop): Postfix's trivial-rewrite resolve_addr(), pure.

Theory of operation, as resolve.c and transport.c do it:

1. The *address class* of the (final) recipient decides the first guess.  The class is not
   computed here: the caller passes a ``classify`` function -- the one relay control uses
   (:func:`mailrelay.policy.resolve.resolve`) -- so that routing and relay checks never
   disagree about which domains are local.  ``classify(recipient)`` returns the final
   recipient and the class name (``local``, ``virtual alias``, ``virtual mailbox``,
   ``relay``, ``default``).

   * local (mydestination, inet_interfaces/proxy_interfaces literals): ``local_transport``,
     nexthop the recipient domain;
   * virtual alias: ``error``, ``5.1.1 User unknown in virtual alias table`` (an address
     that virtual alias expansion left alone; transport_maps is not consulted);
   * virtual mailbox: ``virtual_transport``, nexthop the recipient domain;
   * relay (relay_domains): ``relay_transport``; default: the sender's entry in
     ``sender_dependent_default_transport_maps``, else ``default_transport``.  For both,
     the nexthop is the sender's entry in ``sender_dependent_relayhost_maps`` (sender, then
     ``user``/``@domain``; the null sender as ``<>``), else ``relayhost``, else the domain.

2. A ``transport:nexthop`` main.cf value (``local:$myhostname``, ``smtp:[host]:587``)
   overrides that nexthop: it takes precedence over relayhost.

3. ``transport_maps`` (transport(5)) may override either half: looked up with the address,
   the address without its extension, the domain and its parents (``.domain`` unless
   transport_maps is in parent_domain_matches_subdomains), then ``*``.  ``transport:nexthop``
   replaces both; ``transport:`` or ``transport`` replaces the transport and resets the
   nexthop to the recipient domain (``Address is undeliverable`` for error/retry);
   ``:nexthop`` keeps the transport; ``:`` changes nothing.

Recipients are expected in canonical form, as qmgr has them (cleanup already appended
``@$myorigin``): an unqualified ``user`` is qualified by the classifier, whereas Postfix's
resolve would make it ``user@$myhostname``.

A table that cannot answer raises MapLookupError: the caller defers the recipient.

A message with a content filter (content_filter of the service that received it, or a FILTER
action) is not resolved at all: qmgr sends every recipient to the filter's transport and
nexthop (:meth:`Routes.content_filter`).  A filter without a nexthop (``smtp:``, ``smtp``)
goes to default_filter_nexthop, else to the recipient's domain (captured:
tests/golden/content_filter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailrelay.config.model import Config
from mailrelay.maps.lookup import Maps, Strategy, address_lookup, transport_strategy
from mailrelay.maps.registry import MapCache

#: recipient -> (final recipient, address class name), as relay control resolves it.
Classify = Callable[[str], tuple[str, str]]

LOCAL, ALIAS, VIRTUAL, RELAY, DEFAULT = (
    "local", "virtual alias", "virtual mailbox", "relay", "default")
#: The address class shown for a recipient that goes to a content filter.
FILTER = "content filter"
_ERROR_SERVICES = ("error", "retry")


class RouteError(ValueError):
    """A configuration that cannot route (Postfix: ``null transport is not allowed``)."""


@dataclass(frozen=True, slots=True)
class Reason:
    """One step of the decision: the parameter, where it was set, and what it said."""

    parameter: str
    origin: str
    detail: str

    def __str__(self) -> str:
        return f"{self.parameter} ({self.origin}): {self.detail}"


@dataclass(frozen=True, slots=True)
class Route:
    transport: str
    nexthop: str
    recipient: str
    address_class: str
    #: The parameters that decided, in the order they were applied.
    why: tuple[Reason, ...]
    #: smtp_fallback_relay, for the smtp client to try after the nexthop.
    fallback_relay: tuple[str, ...] = ()


def _split_at(value: str) -> tuple[str, str]:
    """Postfix's split_at(value, ':'): everything after the first colon is the nexthop."""
    channel, _, nexthop = value.partition(":")
    return channel, nexthop


class Routes:
    """The routing tables of one configuration, opened once."""

    def __init__(self, config: Config, classify: Classify, cache: MapCache) -> None:
        self._config = config
        self._classify = classify
        parents = {p.lower() for p in config.get_list("parent_domain_matches_subdomains")}
        self._transport_strategy = transport_strategy("transport_maps" in parents)
        self._delimiter = config.get_str("recipient_delimiter")

        def maps(name: str) -> Maps | None:
            value = config.get_str(name)
            return cache.maps(value, name) if value.strip() else None

        self.transport_maps = maps("transport_maps")
        self.sender_relayhost_maps = maps("sender_dependent_relayhost_maps")
        self.sender_transport_maps = maps("sender_dependent_default_transport_maps")
        self.fallback_relay = tuple(config.get_list("smtp_fallback_relay"))
        self.default_filter_nexthop = config.get_str("default_filter_nexthop").strip()
        self.myhostname = config.get_str("myhostname")

    @classmethod
    def from_config(cls, config: Config, classify: Classify,
                    cache: MapCache | None = None) -> Routes:
        return cls(config, classify, cache or MapCache())

    def _reason(self, parameter: str, detail: str) -> Reason:
        return Reason(parameter, str(self._config.origin(parameter)), detail)

    def _local_domain(self, domain: str) -> bool:
        return self._classify(f"postmaster@{domain}")[1] == LOCAL

    def _sender_lookup(self, maps: Maps, sender: str, null_key_param: str) -> str | None:
        key = sender or self._config.get_str(null_key_param)
        match = address_lookup(maps, key, delimiter=self._delimiter,
                               local_domain=self._local_domain, strategy=Strategy.DEFAULT)
        return match.value if match is not None else None

    def resolve(self, recipient: str, sender: str) -> Route:
        config = self._config
        final, address_class = self._classify(recipient)
        domain = final[final.rfind("@") + 1:]
        why: list[Reason] = []
        blame: str | None = None
        if address_class == ALIAS:
            table = (" in virtual alias table"
                     if config.get_bool("show_user_unknown_table_name") else "")
            channel, nexthop = "error", f"5.1.1 User unknown{table}"
            why.append(self._reason("virtual_alias_domains", f"{domain}: no alias expansion"))
        elif address_class == VIRTUAL:
            blame = "virtual_transport"
            channel, nexthop = config.get_str(blame), domain
        elif address_class == LOCAL:
            blame = "local_transport"
            channel, nexthop = config.get_str(blame), domain
        else:
            channel, nexthop, blame = self._offhost(address_class, sender, domain, why)
        if blame is not None:
            why.append(self._reason(blame, channel))
            channel, destination = _split_at(channel)
            if destination:
                nexthop = destination
            if not channel:
                raise RouteError(f"file {config.origin(blame)}: parameter {blame}: "
                                 "null transport is not allowed")
        if self.transport_maps is not None and address_class != ALIAS:
            channel, nexthop = self._transport(final, domain, channel, nexthop, why)
        return Route(channel, nexthop, final, address_class, tuple(why), self.fallback_relay)

    def content_filter(self, value: str, recipient: str) -> Route:
        """Where a message with content filter *value* (``transport:nexthop``) sends
        *recipient*: the filter's nexthop, else default_filter_nexthop, else the recipient's
        domain (else myhostname), as qmgr does it; no table is consulted."""
        channel, nexthop = _split_at(value)
        if not nexthop:
            at = recipient.rfind("@")
            domain = recipient[at + 1:] if at >= 0 else ""
            nexthop = self.default_filter_nexthop or domain or self.myhostname
        why = (Reason("content_filter", "queue file", value),)
        return Route(channel, nexthop, recipient, FILTER, why, self.fallback_relay)

    def _offhost(self, address_class: str, sender: str, domain: str,
                 why: list[Reason]) -> tuple[str, str, str]:
        config = self._config
        if address_class == RELAY:
            blame = "relay_transport"
            channel = config.get_str(blame)
        else:
            blame = "default_transport"
            channel = config.get_str(blame)
            if self.sender_transport_maps is not None:
                found = self._sender_lookup(self.sender_transport_maps, sender,
                                            "empty_address_default_transport_maps_lookup_key")
                if found is not None:
                    blame, channel = "sender_dependent_default_transport_maps", found
        relay = None
        if self.sender_relayhost_maps is not None:
            relay = self._sender_lookup(self.sender_relayhost_maps, sender,
                                        "empty_address_relayhost_maps_lookup_key")
        if relay is not None:
            why.append(self._reason("sender_dependent_relayhost_maps",
                                    f"{sender or '<>'} -> {relay}"))
            return channel, relay, blame
        relayhost = config.get_str("relayhost").strip()
        if relayhost:
            why.append(self._reason("relayhost", relayhost))
            return channel, relayhost, blame
        return channel, domain, blame

    def _transport(self, recipient: str, domain: str, channel: str, nexthop: str,
                   why: list[Reason]) -> tuple[str, str]:
        assert self.transport_maps is not None
        match = address_lookup(self.transport_maps, recipient, delimiter=self._delimiter,
                               strategy=self._transport_strategy)
        value = match.value if match is not None else self.transport_maps.find("*")
        if value is None:
            return channel, nexthop
        why.append(self._reason("transport_maps", f"{recipient} -> {value}"))
        new_channel, new_nexthop = _split_at(value)
        if not new_channel:  # :[nexthop] keeps the transport
            return channel, new_nexthop or nexthop
        if new_nexthop:
            return new_channel, new_nexthop
        if new_channel in _ERROR_SERVICES:
            return new_channel, "Address is undeliverable"
        return new_channel, domain

