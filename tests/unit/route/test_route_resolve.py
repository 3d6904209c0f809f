"""Routing decisions, table-driven; expected values are what Postfix 3.7 answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from route_support import routes, table

from mailrelay.maps.base import MapLookupError
from mailrelay.route import RouteError

#: The guide's "Transport Maps" table.
GUIDE_TRANSPORT = """\
corp.local smtp:[exchange.corp.local]:25
corp.com smtp:[exchange.corp.local]:25
partner.com smtp:[smtp.partner.com]:25
* smtp:[smtp.office365.com]:587
"""
#: The guide's "Router selon l'Expéditeur" table.
GUIDE_SENDER_RELAY = """\
nagios@corp.local [smtp-alerts.corp.local]:25
zabbix@corp.local [smtp-alerts.corp.local]:25
"""


@pytest.mark.parametrize(("recipient", "transport", "nexthop"), [
    ("bob@corp.local", "smtp", "[exchange.corp.local]:25"),
    ("bob@corp.com", "smtp", "[exchange.corp.local]:25"),
    ("alice@partner.com", "smtp", "[smtp.partner.com]:25"),
    ("someone@example.org", "smtp", "[smtp.office365.com]:587"),
    # No parent-domain match: transport_maps is not in parent_domain_matches_subdomains.
    ("x@sub.partner.com", "smtp", "[smtp.office365.com]:587"),
    # "*" applies to every address class, local mail included (as in Postfix).
    ("root@relay.corp.local", "smtp", "[smtp.office365.com]:587"),
])
def test_guide_transport_maps(tmp_path: Path, recipient: str, transport: str,
                              nexthop: str) -> None:
    r = routes({"transport_maps": table(tmp_path, "transport", GUIDE_TRANSPORT)})
    route = r.resolve(recipient, "sender@corp.local")
    assert (route.transport, route.nexthop) == (transport, nexthop)
    assert route.why[-1].parameter == "transport_maps"
    assert route.why[-1].origin == "main.cf, line 10"


@pytest.mark.parametrize(("sender", "nexthop"), [
    ("nagios@corp.local", "[smtp-alerts.corp.local]:25"),
    ("zabbix@corp.local", "[smtp-alerts.corp.local]:25"),
    ("web@corp.local", "[smtp.office365.com]:587"),
    ("", "[smtp.office365.com]:587"),
])
def test_guide_sender_dependent_relayhost(tmp_path: Path, sender: str, nexthop: str) -> None:
    r = routes({"relayhost": "[smtp.office365.com]:587",
                "sender_dependent_relayhost_maps": table(tmp_path, "sender_relay",
                                                         GUIDE_SENDER_RELAY)})
    route = r.resolve("someone@example.org", sender)
    assert (route.transport, route.nexthop) == ("smtp", nexthop)


def test_sender_relay_by_domain_and_null_sender(tmp_path: Path) -> None:
    r = routes({"sender_dependent_relayhost_maps": table(
        tmp_path, "sr", "@corp.local [corp-out]\n<> [bounces-out]\n")})
    assert r.resolve("a@example.org", "x@corp.local").nexthop == "[corp-out]"
    assert r.resolve("a@example.org", "").nexthop == "[bounces-out]"
    assert r.resolve("a@example.org", "x@other.example").nexthop == "example.org"


@pytest.mark.parametrize(("settings", "recipient", "transport", "nexthop", "klass"), [
    ({}, "a@example.org", "smtp", "example.org", "default"),
    ({"relayhost": "[smarthost]:587"}, "a@example.org", "smtp", "[smarthost]:587", "default"),
    # mydestination -> local_transport = local:$myhostname
    ({"relayhost": "[smarthost]"}, "root@relay.corp.local", "local", "relay.corp.local",
     "local"),
    ({}, "root@localhost", "local", "relay.corp.local", "local"),
    ({}, "root@[127.0.0.1]", "local", "relay.corp.local", "local"),
    ({"local_transport": "local"}, "root@localhost", "local", "localhost", "local"),
    # relay_domains -> relay_transport; relayhost applies to this class too.
    ({"relay_domains": "partner.com"}, "a@partner.com", "relay", "partner.com", "relay"),
    ({"relay_domains": "partner.com"}, "a@sub.partner.com", "relay", "sub.partner.com",
     "relay"),
    ({"relay_domains": "partner.com", "relayhost": "[gw]"}, "a@partner.com", "relay", "[gw]",
     "relay"),
    # A nexthop in a main.cf transport beats relayhost.
    ({"relay_domains": "partner.com", "relay_transport": "relay:[mx.partner.com]",
      "relayhost": "[gw]"}, "a@partner.com", "relay", "[mx.partner.com]", "relay"),
    ({"default_transport": "smtp:[out]:2525", "relayhost": "[gw]"}, "a@example.org", "smtp",
     "[out]:2525", "default"),
    ({"default_transport": "error:no outbound mail"}, "a@example.org", "error",
     "no outbound mail", "default"),
    ({"virtual_alias_domains": "valias.example"}, "a@valias.example", "error",
     "5.1.1 User unknown in virtual alias table", "virtual alias"),
    ({"virtual_alias_domains": "valias.example", "show_user_unknown_table_name": "no"},
     "a@valias.example", "error", "5.1.1 User unknown", "virtual alias"),
    ({"virtual_mailbox_domains": "vmbox.example"}, "a@vmbox.example", "virtual",
     "vmbox.example", "virtual mailbox"),
])
def test_address_classes(settings: dict[str, str], recipient: str, transport: str,
                         nexthop: str, klass: str) -> None:
    route = routes(settings).resolve(recipient, "s@corp.local")
    assert (route.transport, route.nexthop, route.address_class) == (transport, nexthop, klass)


def test_sender_dependent_default_transport(tmp_path: Path) -> None:
    r = routes({"relayhost": "[gw]",
                "relay_domains": "partner.com",
                "sender_dependent_default_transport_maps": table(
                    tmp_path, "sddt", "bulk@corp.local bulk:[bulk-out]\n@corp.local smtp2\n")})
    assert (r.resolve("a@example.org", "bulk@corp.local").transport,
            r.resolve("a@example.org", "bulk@corp.local").nexthop) == ("bulk", "[bulk-out]")
    route = r.resolve("a@example.org", "x@corp.local")
    assert (route.transport, route.nexthop) == ("smtp2", "[gw]")
    assert route.why[-1].parameter == "sender_dependent_default_transport_maps"
    # Not for the relay class.
    assert r.resolve("a@partner.com", "bulk@corp.local").transport == "relay"


TRANSPORT_FORMS = """\
full@example.com smtp:[full-host]
user@example.com smtp:[user-host]
nexthop-only.example :[nh-only]:2525
transport-only.example relay:
bare.example relay
noop.example :
err.example error:mail for err.example is not deliverable
errnone.example error:
disc.example discard:
loc.example local:
.sub.example smtp:[dot-parent]
sub.example smtp:[exact]
"""


@pytest.mark.parametrize(("recipient", "transport", "nexthop"), [
    ("full@example.com", "smtp", "[full-host]"),
    ("user+tag@example.com", "smtp", "[user-host]"),
    ("other@example.com", "smtp", "[gw]"),
    ("a@nexthop-only.example", "smtp", "[nh-only]:2525"),
    ("a@transport-only.example", "relay", "transport-only.example"),
    ("a@bare.example", "relay", "bare.example"),
    ("a@noop.example", "smtp", "[gw]"),
    ("a@err.example", "error", "mail for err.example is not deliverable"),
    ("a@errnone.example", "error", "Address is undeliverable"),
    ("a@disc.example", "discard", "disc.example"),
    ("a@loc.example", "local", "loc.example"),
    ("a@sub.example", "smtp", "[exact]"),
    ("a@x.sub.example", "smtp", "[dot-parent]"),
    ("a@y.x.sub.example", "smtp", "[dot-parent]"),
    ("full+tag@example.com", "smtp", "[full-host]"),
    ("A@SUB.EXAMPLE", "smtp", "[exact]"),
])
def test_transport_map_forms(tmp_path: Path, recipient: str, transport: str,
                             nexthop: str) -> None:
    r = routes({"relayhost": "[gw]", "recipient_delimiter": "+",
                "transport_maps": table(tmp_path, "transport", TRANSPORT_FORMS)})
    route = r.resolve(recipient, "s@corp.local")
    assert (route.transport, route.nexthop) == (transport, nexthop)


@pytest.mark.parametrize(("recipient", "nexthop"), [
    ("a@partner.com", "[p]"),
    ("a@mx.partner.com", "[p]"),
    ("a@a.b.partner.com", "[p]"),
    ("a@otherpartner.com", "otherpartner.com"),
])
def test_parent_domain_matches_subdomains(tmp_path: Path, recipient: str,
                                          nexthop: str) -> None:
    r = routes({"parent_domain_matches_subdomains": "transport_maps",
                "transport_maps": table(tmp_path, "t", "partner.com smtp:[p]\n")})
    assert r.resolve(recipient, "").nexthop == nexthop


def test_regexp_table_sees_whole_address_only(tmp_path: Path) -> None:
    spec = table(tmp_path, "t.re", "/^bob@/ smtp:[bob-host]\n/^example\\.org$/ smtp:[dom]\n")
    r = routes({"transport_maps": spec.replace("texthash:", "regexp:")})
    assert r.resolve("bob@example.org", "").nexthop == "[bob-host]"
    assert r.resolve("eve@example.org", "").nexthop == "example.org"


def test_virtual_alias_class_ignores_transport_maps(tmp_path: Path) -> None:
    r = routes({"virtual_alias_domains": "valias.example",
                "virtual_mailbox_domains": "vmbox.example",
                "transport_maps": table(tmp_path, "t", "* smtp:[all]\n")})
    assert r.resolve("a@valias.example", "").transport == "error"
    assert (r.resolve("a@vmbox.example", "").transport,
            r.resolve("a@vmbox.example", "").nexthop) == ("smtp", "[all]")


@pytest.mark.parametrize(("entries", "recipient", "transport", "nexthop"), [
    ("partner.com :\n", "a@partner.com", "relay", "[gw]"),
    ("partner.com :[p2]\n", "a@partner.com", "relay", "[p2]"),
    ("partner.com smtp\n", "a@partner.com", "smtp", "partner.com"),
    ("example.org retry:\n", "a@example.org", "retry", "Address is undeliverable"),
])
def test_transport_map_over_relay_class(tmp_path: Path, entries: str, recipient: str,
                                        transport: str, nexthop: str) -> None:
    r = routes({"relayhost": "[gw]", "relay_domains": "partner.com",
                "transport_maps": table(tmp_path, "t", entries)})
    route = r.resolve(recipient, "s@corp.local")
    assert (route.transport, route.nexthop) == (transport, nexthop)


def test_sender_extension_needs_recipient_delimiter(tmp_path: Path) -> None:
    sender_relay = table(tmp_path, "sr", GUIDE_SENDER_RELAY)
    r = routes({"sender_dependent_relayhost_maps": sender_relay})
    assert r.resolve("x@example.org", "nagios+x@corp.local").nexthop == "example.org"
    r = routes({"sender_dependent_relayhost_maps": sender_relay, "recipient_delimiter": "+"})
    assert r.resolve("x@example.org", "nagios+x@corp.local").nexthop == \
        "[smtp-alerts.corp.local]:25"


def test_local_mail_ignores_sender_relayhost(tmp_path: Path) -> None:
    r = routes({"relayhost": "[gw]",
                "sender_dependent_relayhost_maps": table(tmp_path, "sr", GUIDE_SENDER_RELAY)})
    route = r.resolve("root@relay.corp.local", "nagios@corp.local")
    assert (route.transport, route.nexthop) == ("local", "relay.corp.local")


def test_fallback_relay_is_returned() -> None:
    route = routes({"smtp_fallback_relay": "[backup1]:25, [backup2]"}).resolve("a@b.example", "")
    assert route.fallback_relay == ("[backup1]:25", "[backup2]")


def test_why_names_parameters_and_lines() -> None:
    route = routes({"relayhost": "[gw]"}).resolve("a@example.org", "")
    assert [str(w) for w in route.why] == ["relayhost (main.cf, line 10): [gw]",
                                            "default_transport ((default)): smtp"]


def test_null_transport_is_a_configuration_error() -> None:
    with pytest.raises(RouteError, match="parameter default_transport: null transport"):
        routes({"default_transport": ":[x]"}).resolve("a@example.org", "")


def test_empty_transport_map_result_is_a_lookup_error(tmp_path: Path) -> None:
    spec = table(tmp_path, "t.re", "/./\n")
    r = routes({"transport_maps": spec.replace("texthash:", "regexp:")})
    with pytest.raises(MapLookupError):
        r.resolve("a@example.org", "")


@pytest.mark.parametrize(("content_filter", "recipient", "transport", "nexthop"), [
    # captured: tests/golden/content_filter (FILTER smtp:[127.0.0.1]:26302, FILTER smtp:)
    ("smtp:[127.0.0.1]:10024", "bob@example.com", "smtp", "[127.0.0.1]:10024"),
    ("smtp:", "bob@example.com", "smtp", "example.com"),
    ("smtp", "bob@partner.com", "smtp", "partner.com"),
    ("smtp:", "bob", "smtp", "relay.corp.local"),
    ("lmtp:unix:private/amavis", "bob@example.com", "lmtp", "unix:private/amavis"),
])
def test_a_content_filter_replaces_routing_and_tables(
        tmp_path: Path, content_filter: str, recipient: str, transport: str,
        nexthop: str) -> None:
    r = routes({"relayhost": "[smarthost]:587",
                "transport_maps": table(tmp_path, "transport", GUIDE_TRANSPORT)})
    route = r.content_filter(content_filter, recipient)
    assert (route.transport, route.nexthop, route.recipient) == (transport, nexthop, recipient)
    assert route.address_class == "content filter"
    assert [w.parameter for w in route.why] == ["content_filter"]
