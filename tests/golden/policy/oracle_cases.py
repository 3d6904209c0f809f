"""The dialogues that capture.py plays against Postfix 3.7 (see README.md).

Each case names the smtpd settings it needs (applied with ``-o`` to a service of its own) and
the SMTP commands to send.  ``untrusted`` cases run with ``mynetworks = 192.0.2.0/24`` so that
the client, 127.0.0.1 (``localhost`` in /etc/hosts), is not in mynetworks.
"""

from __future__ import annotations

from dataclasses import dataclass

EHLO = "EHLO client.example"
SENDER = "sender@example.com"
OK_RCPT = "root@relay.corp.local"
MESSAGE = "MSG:Subject: test\r\n\r\nbody"

#: main.cf lines common to every service.  Address classes are decided by trivial-rewrite,
#: which does not see smtpd's ``-o`` settings: the domain lists are therefore global, and the
#: resolver settings that a case changes get a trivial-rewrite service of their own.
GLOBAL_SETTINGS = (
    "smtpd_restriction_classes = rc_reject, rc_defer, rc_ok",
    "rc_reject = reject",
    "rc_defer = defer",
    "rc_ok = permit",
    "relay_domains = relaydom.example",
    "virtual_alias_domains = valias.example",
    "virtual_mailbox_domains = vmbox.example",
    "proxy_interfaces = 192.0.2.25",
)
#: master.cf lines besides the smtpd services.
GLOBAL_SERVICES = (
    "rewrite_nohacks unix - - n - - trivial-rewrite -o allow_percent_hack=no"
    " -o swap_bangpath=no",
)

#: Files written into the oracle's configuration directory before it starts.
FILES = {
    "sender.regexp": "/^user@example\\.com$/ REJECT regexp full address\n"
                     "/^example\\.com$/ REJECT regexp domain never looked up\n",
    "sender.texthash": "user@example.com REJECT texthash full\n"
                       "other.example DUNNO\n",
}


@dataclass(frozen=True)
class Case:
    id: str
    about: str
    settings: dict[str, str]
    commands: list[str]
    untrusted: bool = True
    source: str = "127.0.0.1"
    repeat: int = 1
    concurrent: int = 0


def txn(*rcpts: str, sender: str = SENDER, helo: str | None = EHLO,
        data: bool = False) -> list[str]:
    """EHLO, MAIL FROM, RCPT TO each recipient, optionally DATA and a message, QUIT."""
    commands = [helo] if helo else []
    commands.append(f"MAIL FROM:<{sender}>")
    commands += [f"RCPT TO:<{r}>" for r in rcpts]
    if data:
        commands += ["DATA", MESSAGE]
    return [*commands, "QUIT"]


VECTORS = (
    "user@foreign.example",
    "user%foreign.example@relay.corp.local",
    "@relay.corp.local:user@foreign.example",
    '"user@foreign.example"@relay.corp.local',
    "user@foreign.example@relay.corp.local",
    "foreign.example!user@relay.corp.local",
    "root@relay.corp.local",
    "postmaster",
    "root@[127.0.0.1]",
    "root@localhost",
    "root@RELAY.corp.local.",
)
RELAYDOM_VECTORS = (
    "user@relaydom.example",
    "user@sub.relaydom.example",
    "user%foreign.example@relaydom.example",
    "foreign.example!user@relaydom.example",
    '"user@foreign.example"@relaydom.example',
)
NO_RELAY_LIST = {"smtpd_relay_restrictions": ""}


def relay_cases() -> list[Case]:
    all_vectors = VECTORS + RELAYDOM_VECTORS
    return [
        Case("relay-default", "default smtpd_relay_restrictions (defer_unauth_destination)",
             {}, txn(*VECTORS)),
        Case("relay-recipient-list", "empty relay list: reject_unauth_destination decides",
             NO_RELAY_LIST, txn(*all_vectors)),
        Case("relay-untrusted-routing", "allow_untrusted_routing = yes",
             {**NO_RELAY_LIST, "allow_untrusted_routing": "yes"}, txn(*all_vectors)),
        Case("relay-no-hacks", "allow_percent_hack = no, swap_bangpath = no",
             {**NO_RELAY_LIST, "rewrite_service_name": "rewrite_nohacks"},
             txn(*all_vectors)),
        Case("relay-trusted", "the same addresses from mynetworks", {}, txn(*VECTORS),
             untrusted=False),
        Case("relay-proxy-interfaces", "proxy_interfaces literal is local",
             {}, txn("root@[192.0.2.25]", "root@[192.0.2.26]")),
        Case("relay-virtual", "virtual alias and mailbox domains are final destinations",
             {}, txn("user@valias.example", "user@vmbox.example")),
        Case("relay-code", "relay_domains_reject_code = 550",
             {**NO_RELAY_LIST, "relay_domains_reject_code": "550"}, txn("user@foreign.example")),
        Case("relay-defer-code", "defer_unauth_destination uses relay_domains_reject_code - 100",
             {"relay_domains_reject_code": "550"}, txn("user@foreign.example")),
        Case("relay-permit-auth-destination", "permit_auth_destination, reject",
             {"smtpd_relay_restrictions": "permit_auth_destination, reject"},
             txn(OK_RCPT, "user@foreign.example")),
    ]


def client(name: str, about: str, restrictions: str, commands: list[str] | None = None,
           **more: str) -> Case:
    settings = {"smtpd_client_restrictions": restrictions, **more}
    return Case(f"client-{name}", about, settings, commands or txn(OK_RCPT))


def client_map(name: str, entries: str, after: str = "", **more: str) -> Case:
    restrictions = f"check_client_access inline:{{{entries}}}" + (f", {after}" if after else "")
    return client(name, f"check_client_access {entries}" + (f", {after}" if after else ""),
                  restrictions, **more)


def client_cases() -> list[Case]:
    return [
        client("reject", "reject", "reject"),
        client("defer", "defer", "defer"),
        client("reject-no-delay", "reject with smtpd_delay_reject = no", "reject",
               [EHLO, f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{OK_RCPT}>", "DATA", "NOOP", "QUIT"],
               smtpd_delay_reject="no"),
        client("permit-mynetworks-untrusted", "permit_mynetworks, reject (untrusted)",
               "permit_mynetworks, reject"),
        Case("client-permit-mynetworks-trusted", "permit_mynetworks, reject (trusted)",
             {"smtpd_client_restrictions": "permit_mynetworks, reject"},
             txn("user@foreign.example"), untrusted=False),
        client_map("map-name", "localhost=REJECT"),
        client_map("map-name-text", "{localhost=REJECT No thanks}"),
        client_map("map-addr-defer", "127.0.0.1=DEFER"),
        client_map("map-defer-text", "{127.0.0.1=DEFER Come back later}"),
        client_map("map-net3", "127.0.0=REJECT"),
        client_map("map-net1", "127=REJECT"),
        client_map("map-dunno-name", "localhost=DUNNO, 127.0.0.1=REJECT"),
        client_map("map-550", "{127.0.0.1=550 5.7.0 Go away}"),
        client_map("map-450", "{127.0.0.1=450 Slow down}"),
        client_map("map-521", "{127.0.0.1=521 Bye}"),
        client_map("map-421", "{127.0.0.1=421 Closing}"),
        client_map("map-numeric-ok", "127.0.0.1=12345", "reject"),
        client_map("map-ok", "127.0.0.1=OK", "reject"),
        client_map("map-class", "127.0.0.1=rc_reject"),
        client_map("map-class-ok", "127.0.0.1=rc_ok", "reject"),
        client_map("map-restriction", "127.0.0.1=defer_if_permit", "permit"),
        client_map("map-two-restrictions", "{127.0.0.1=permit_mynetworks defer}"),
        client_map("map-dsn", "{127.0.0.1=REJECT 5.7.9 custom dsn}"),
        client_map("map-address-dsn", "{127.0.0.1=REJECT 5.1.1 mailbox dsn}"),
        client_map("map-defer-if-reject", "127.0.0.1=DEFER_IF_REJECT", "reject"),
        client_map("map-defer-if-permit", "127.0.0.1=DEFER_IF_PERMIT", "permit"),
        client("map-bare", "bare table in the client list",
               "inline:{127.0.0.1=REJECT}"),
        client("warn-if-reject", "warn_if_reject, reject", "warn_if_reject, reject"),
        client("warn-if-reject-map", "warn_if_reject before an access map",
               "warn_if_reject, check_client_access inline:{127.0.0.1=REJECT}"),
        client("defer-if-permit", "defer_if_permit, permit", "defer_if_permit, permit"),
        client("defer-if-permit-reject", "defer_if_permit, reject", "defer_if_permit, reject"),
        client("defer-if-reject", "defer_if_reject, reject", "defer_if_reject, reject"),
        client("defer-if-reject-permit", "defer_if_reject, permit", "defer_if_reject, permit"),
        client("unknown-restriction", "an unknown restriction name", "bogus_restriction"),
        client("unknown-client-known", "reject_unknown_client_hostname for localhost",
               "reject_unknown_client_hostname"),
        client("soft-bounce", "soft_bounce = yes turns 5xx into 4xx", "reject",
               soft_bounce="yes"),
        client("reject-code", "reject_code = 550", "reject", reject_code="550"),
        client("map-reject-code", "access_map_reject_code = 550",
               "check_client_access inline:{127.0.0.1=REJECT}", access_map_reject_code="550"),
        client("defer-code", "defer_code = 451", "defer", defer_code="451"),
        *action_cases(),
    ]


def action_cases() -> list[Case]:
    actions = {
        "hold": "HOLD", "hold-text": "HOLD held for review", "discard": "DISCARD",
        "discard-text": "DISCARD dropped", "filter": "FILTER smtp:[127.0.0.1]:2798",
        "redirect": "REDIRECT other@example.com", "prepend": "PREPEND X-Policy: yes",
        "warn": "WARN looks odd", "info": "INFO just so you know", "bcc": "BCC bcc@example.com",
    }
    return [client_map(f"action-{name}", f"{{127.0.0.1={value}}}",
                       commands=txn(OK_RCPT, data=True))
            for name, value in actions.items()]


def helo(name: str, restrictions: str, helo_name: str, **more: str) -> Case:
    return Case(f"helo-{name}", f"{restrictions} / EHLO {helo_name}",
                {"smtpd_helo_restrictions": restrictions, **more},
                txn(OK_RCPT, helo=f"EHLO {helo_name}"))


def helo_cases() -> list[Case]:
    invalid = ["bad!name", "bad_name.example", "-lead.example", "a..b.example", "trailing.dot.",
               "[1.2.3.4]", "[1.2.3]", "[ipv6:::1]", "1.2.3.4", "123"]
    nonfqdn = ["foo", "foo.", "foo.example", "[1.2.3.4]", "[1.2.3]", "1.2.3.4"]
    cases = [helo(f"invalid-{i}", "reject_invalid_helo_hostname", n)
             for i, n in enumerate(invalid)]
    cases += [helo(f"non-fqdn-{i}", "reject_non_fqdn_helo_hostname", n)
              for i, n in enumerate(nonfqdn)]
    helo_map = "check_helo_access inline:{foo.example=REJECT}"
    cases += [helo(f"map-{i}", helo_map, n)
              for i, n in enumerate(["sub.foo.example", "FOO.example", "notfoo.example"])]
    dot_map = "check_helo_access inline:{.foo.example=REJECT}"
    cases += [helo(f"map-dot-{i}", dot_map, n, parent_domain_matches_subdomains="relay_domains")
              for i, n in enumerate(["sub.foo.example", "foo.example"])]
    cases += [
        Case("helo-required", "smtpd_helo_required = yes, MAIL without HELO",
             {"smtpd_helo_required": "yes"}, txn(OK_RCPT, helo=None)),
        Case("helo-no-delay", "smtpd_delay_reject = no: HELO restrictions at HELO",
             {"smtpd_helo_restrictions": "reject_non_fqdn_helo_hostname",
              "smtpd_delay_reject": "no"}, txn(OK_RCPT, helo="EHLO foo")),
        Case("helo-none-given", "HELO restrictions are skipped without HELO",
             {"smtpd_helo_restrictions": "reject"}, txn(OK_RCPT, helo=None)),
        Case("helo-plain-helo", "HELO (not EHLO): proto=SMTP",
             {"smtpd_helo_restrictions": "reject_non_fqdn_helo_hostname"},
             txn(OK_RCPT, helo="HELO foo")),
    ]
    return cases


def sender(name: str, restrictions: str, address: str, **more: str) -> Case:
    return Case(f"sender-{name}", f"{restrictions} / MAIL FROM:<{address}>",
                {"smtpd_sender_restrictions": restrictions, **more},
                txn(OK_RCPT, sender=address))


def sender_cases() -> list[Case]:
    cases = [sender(f"non-fqdn-{i}", "reject_non_fqdn_sender", a) for i, a in
             enumerate(["user@host", "user", "", "user@[192.0.2.1]", "user@host.", "user@a.b"])]
    maps = [
        ("full", "user@example.com=REJECT", ["user@example.com", "USER@Example.COM"]),
        ("domain", "example.com=REJECT", ["user@example.com", "user@sub.example.com"]),
        ("localpart", "user@=REJECT", ["user@anything.example", "other@anything.example"]),
        ("order-ok", "user@example.com=OK, example.com=REJECT", ["user@example.com"]),
        ("order-dunno", "example.com=DUNNO, user@=REJECT", ["user@example.com"]),
        ("null", "<>=REJECT", [""]),
        ("numeric", "{user@example.com=553 5.7.1 Not you}", ["user@example.com"]),
        ("rcpt-dsn", "{user@example.com=REJECT 5.1.1 bad}", ["user@example.com"]),
        ("text", "{example.com=REJECT Sender domain blocked}", ["user@example.com"]),
    ]
    for name, entries, addresses in maps:
        cases += [sender(f"map-{name}-{i}", f"check_sender_access inline:{{{entries}}}", a)
                  for i, a in enumerate(addresses)]
    ext = "check_sender_access inline:{user@example.com=REJECT, user+tag@=DEFER}"
    cases += [sender(f"map-ext-{i}", ext, a, recipient_delimiter="+")
              for i, a in enumerate(["user+tag@example.com", "user+other@example.com"])]
    dot = "check_sender_access inline:{.example.com=REJECT}"
    cases += [sender(f"map-dot-{i}", dot, a, parent_domain_matches_subdomains="relay_domains")
              for i, a in enumerate(["user@sub.example.com", "user@example.com"])]
    cases += [
        sender("map-null-key", "check_sender_access inline:{mailer-daemon=REJECT}", "",
               smtpd_null_access_lookup_key="MAILER-DAEMON"),
        sender("regexp-0", "check_sender_access regexp:$config_directory/sender.regexp",
               "user@example.com"),
        sender("regexp-1", "check_sender_access regexp:$config_directory/sender.regexp",
               "other@example.com"),
        sender("texthash", "check_sender_access texthash:$config_directory/sender.texthash",
               "user@example.com"),
        sender("unknown-domain-local", "reject_unknown_sender_domain", "root@relay.corp.local"),
        sender("unknown-domain-literal", "reject_unknown_sender_domain", "user@[192.0.2.1]"),
        sender("unknown-domain-null", "reject_unknown_sender_domain", ""),
    ]
    return cases


def recipient_cases() -> list[Case]:
    fqdn = {"smtpd_relay_restrictions":
            "reject_non_fqdn_recipient, permit_mynetworks, reject_unauth_destination"}
    return [
        Case("rcpt-non-fqdn", "reject_non_fqdn_recipient", fqdn,
             txn("user@host", "user", "postmaster", "root@localhost", "Postmaster")),
        Case("rcpt-map", "check_recipient_access with text",
             {"smtpd_recipient_restrictions":
              "check_recipient_access inline:{{root@relay.corp.local=REJECT No root}}"},
             txn(OK_RCPT)),
        Case("rcpt-map-routed-ok", "OK for a routed address does not authorise relaying",
             {**NO_RELAY_LIST, "smtpd_recipient_restrictions":
              "check_recipient_access inline:{user%foreign.example@relaydom.example=OK}, "
              "reject_unauth_destination"},
             txn("user%foreign.example@relaydom.example")),
        Case("rcpt-map-resolved-key", "the access key is the resolved address",
             {"smtpd_recipient_restrictions":
              "check_recipient_access inline:{user@foreign.example=REJECT}"},
             txn("user%foreign.example@relay.corp.local"), untrusted=False),
        Case("rcpt-relay-first", "smtpd_relay_restrictions are evaluated first",
             {"smtpd_recipient_restrictions":
              "check_recipient_access inline:{user@foreign.example=REJECT}"},
             txn("user@foreign.example")),
        Case("rcpt-unlisted", "unknown local recipient (smtpd_reject_unlisted_recipient)",
             {}, txn("nosuchuser@relay.corp.local")),
        Case("rcpt-unlisted-off", "smtpd_reject_unlisted_recipient = no",
             {"smtpd_reject_unlisted_recipient": "no"}, txn("nosuchuser@relay.corp.local")),
        Case("rcpt-unlisted-explicit", "reject_unlisted_recipient in the list",
             {"smtpd_reject_unlisted_recipient": "no",
              "smtpd_recipient_restrictions": "reject_unlisted_recipient"},
             txn("nosuchuser@relay.corp.local")),
        Case("sender-unlisted", "smtpd_reject_unlisted_sender = yes",
             {"smtpd_reject_unlisted_sender": "yes"},
             txn(OK_RCPT, sender="nosuchuser@relay.corp.local")),
        Case("rcpt-defer-if-permit-sender", "a defer_if_permit from the sender stage",
             {"smtpd_sender_restrictions": "defer_if_permit"}, txn(OK_RCPT)),
        Case("rcpt-sender-reject-at-rcpt", "sender restrictions run at RCPT (delay_reject)",
             {"smtpd_sender_restrictions": "reject"}, txn(OK_RCPT)),
        Case("rcpt-multiple", "second recipient rejected after a first one was accepted",
             {}, txn(OK_RCPT, "user@foreign.example")),
    ]


def data_cases() -> list[Case]:
    pipelined = "MAIL FROM:<sender@example.com>\r\nRCPT TO:<root@relay.corp.local>\r\nDATA"
    return [
        Case("data-reject", "smtpd_data_restrictions = reject",
             {"smtpd_data_restrictions": "reject"}, txn(OK_RCPT, data=True)),
        Case("data-reject-two-rcpts", "the log has no to= with several recipients",
             {"smtpd_data_restrictions": "reject"}, txn(OK_RCPT, "postmaster", data=True)),
        Case("data-client-map", "a client map in the DATA stage",
             {"smtpd_data_restrictions": "check_client_access inline:{127.0.0.1=REJECT}"},
             txn(OK_RCPT, data=True)),
        Case("data-bare-map", "a bare table in the DATA list is a configuration error",
             {"smtpd_data_restrictions": "inline:{127.0.0.1=REJECT}"}, txn(OK_RCPT, data=True)),
        Case("data-unauth-pipelining", "HELO then pipelined MAIL, RCPT, DATA",
             {"smtpd_data_restrictions": "reject_unauth_pipelining"},
             ["HELO client.example", pipelined, "QUIT"]),
        Case("data-auth-pipelining", "EHLO then pipelined MAIL, RCPT, DATA",
             {"smtpd_data_restrictions": "reject_unauth_pipelining"},
             [EHLO, pipelined, MESSAGE, "QUIT"]),
        Case("eod-reject", "smtpd_end_of_data_restrictions = reject",
             {"smtpd_end_of_data_restrictions": "reject"}, txn(OK_RCPT, data=True)),
        Case("eod-defer-text", "smtpd_end_of_data_restrictions with an access map",
             {"smtpd_end_of_data_restrictions":
              "check_sender_access inline:{{sender@example.com=DEFER later}}"},
             txn(OK_RCPT, data=True)),
    ]


def anvil_cases() -> list[Case]:
    quick = [EHLO, "QUIT"]
    return [
        Case("anvil-connection-count", "smtpd_client_connection_count_limit = 1",
             {"smtpd_client_connection_count_limit": "1"}, quick, concurrent=1),
        Case("anvil-connection-rate", "smtpd_client_connection_rate_limit = 2",
             {"smtpd_client_connection_rate_limit": "2"}, quick, repeat=3),
        Case("anvil-message-rate", "smtpd_client_message_rate_limit = 1",
             {"smtpd_client_message_rate_limit": "1"},
             [EHLO, f"MAIL FROM:<{SENDER}>", "RSET", f"MAIL FROM:<{SENDER}>", "QUIT"]),
        Case("anvil-recipient-rate", "smtpd_client_recipient_rate_limit = 2",
             {"smtpd_client_recipient_rate_limit": "2"}, txn(OK_RCPT, OK_RCPT, OK_RCPT)),
        Case("anvil-exception", "smtpd_client_event_limit_exceptions covers the client",
             {"smtpd_client_message_rate_limit": "1",
              "smtpd_client_event_limit_exceptions": "127.0.0.0/8"},
             [EHLO, f"MAIL FROM:<{SENDER}>", "RSET", f"MAIL FROM:<{SENDER}>", "QUIT"]),
        Case("anvil-trusted", "mynetworks are exempt by default",
             {"smtpd_client_message_rate_limit": "1"},
             [EHLO, f"MAIL FROM:<{SENDER}>", "RSET", f"MAIL FROM:<{SENDER}>", "QUIT"],
             untrusted=False),
    ]


CASES: list[Case] = [*relay_cases(), *client_cases(), *helo_cases(), *sender_cases(),
                     *recipient_cases(), *data_cases(), *anvil_cases()]
_ids = [c.id for c in CASES]
assert len(_ids) == len(set(_ids)), "duplicate case id"
