"""Which TLS policy a nexthop gets: smtp_tls_policy_maps, the main.cf level, the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.maps.registry import MapCache
from mailrelay.tlspolicy.policy import Level, TlsPolicies, TlsPolicy, TlsPolicyError
from mailrelay.util.diagnostic import Fatal

GOLDEN = Path(__file__).parents[2] / "golden" / "smtp_tls" / "policy.cases"


def policies(main_cf: str, tmp_path: Path | None = None, table: str = "") -> TlsPolicies:
    if table and tmp_path is not None:
        (tmp_path / "tls_policy").write_text(table)
        main_cf += f"smtp_tls_policy_maps = texthash:{tmp_path / 'tls_policy'}\n"
    config = Config(parse_main_cf(main_cf, "main.cf"), "/etc/postfix")
    return TlsPolicies.from_config(config, MapCache())


def lookup(main_cf: str, nexthop: str = "[smtp.example.com]:587", tmp_path: Path | None = None,
           table: str = "") -> TlsPolicy:
    return policies(main_cf, tmp_path, table).lookup(nexthop, "example.com")


@pytest.mark.parametrize(("main_cf", "level", "source"), [
    ("", Level.NONE, "smtp_tls_security_level (default): none"),
    ("smtp_tls_security_level = may\n", Level.MAY, "smtp_tls_security_level (main.cf:1): may"),
    ("smtp_tls_security_level = Encrypt\n", Level.ENCRYPT,
     "smtp_tls_security_level (main.cf:1): Encrypt"),
    ("smtp_use_tls = yes\n", Level.MAY, "smtp_use_tls (main.cf:1): yes"),
    ("smtp_enforce_tls = yes\n", Level.VERIFY,
     "smtp_enforce_tls (main.cf:1): yes, smtp_tls_enforce_peername (default): yes"),
    ("smtp_enforce_tls = yes\nsmtp_tls_enforce_peername = no\n", Level.ENCRYPT,
     "smtp_enforce_tls (main.cf:1): yes, smtp_tls_enforce_peername (main.cf:2): no"),
    # smtp_tls_security_level overrides the obsolete parameters.
    ("smtp_enforce_tls = yes\nsmtp_tls_security_level = may\n", Level.MAY,
     "smtp_tls_security_level (main.cf:2): may"),
])
def test_the_main_cf_level_and_its_obsolete_forms(main_cf: str, level: Level,
                                                  source: str) -> None:
    policy = lookup(main_cf)
    assert (policy.level, policy.source) == (level, source)


def test_an_unknown_main_cf_level_is_fatal_as_in_postfix() -> None:
    with pytest.raises(Fatal) as e:
        policies("smtp_tls_security_level = bogus\n")
    assert str(e.value) == 'main.cf, line 1: Invalid TLS level "bogus"'


def test_the_defaults_of_opportunistic_and_mandatory_levels() -> None:
    main_cf = ("smtp_tls_protocols = !SSLv2\nsmtp_tls_ciphers = export\n"
               "smtp_tls_exclude_ciphers = MD5, DES\nsmtp_tls_mandatory_protocols = >=TLSv1.2\n"
               "smtp_tls_mandatory_ciphers = high\nsmtp_tls_mandatory_exclude_ciphers = RC4\n")
    may = lookup(main_cf + "smtp_tls_security_level = may\n")
    assert (may.protocols, may.ciphers, may.exclude_ciphers) == ("!SSLv2", "export", "MD5 DES")
    encrypt = lookup(main_cf + "smtp_tls_security_level = encrypt\n")
    assert (encrypt.protocols, encrypt.ciphers, encrypt.exclude_ciphers) == (
        ">=TLSv1.2", "high", "MD5 DES RC4")
    assert encrypt.match == () and encrypt.required and not encrypt.verified
    verify = lookup(main_cf + "smtp_tls_security_level = verify\n")
    assert verify.exclude_ciphers == "MD5 DES RC4 aNULL"
    assert verify.match == ("hostname",) and verify.verified
    secure = lookup("smtp_tls_security_level = secure\n"
                    "smtp_tls_secure_cert_match = nexthop, .example.com:example.com\n")
    assert secure.match == ("nexthop", ".example.com", "example.com")
    none = lookup("")
    assert (none.protocols, none.ciphers, none.match, none.required) == ("", "", (), False)


def test_policy_attributes_override_the_main_cf_settings(tmp_path: Path) -> None:
    policy = lookup("smtp_tls_exclude_ciphers = MD5\n", tmp_path=tmp_path, table=(
        "[smtp.example.com]:587 secure protocols=>=TLSv1.2:<=TLSv1.3 ciphers=high "
        "exclude=3DES:RC4 match=nexthop match=.example.net servername=smtp.example.com\n"))
    assert policy.level is Level.SECURE
    assert (policy.protocols, policy.ciphers) == (">=TLSv1.2:<=TLSv1.3", "high")
    assert policy.exclude_ciphers == "MD5 3DES RC4 aNULL"
    assert policy.match == ("nexthop", ".example.net")
    assert policy.servername == "smtp.example.com"
    assert policy.source.startswith("smtp_tls_policy_maps (main.cf:2): [smtp.example.com]:587 "
                                    "secure protocols=")


def test_an_opportunistic_exclude_replaces_smtp_tls_exclude_ciphers(tmp_path: Path) -> None:
    policy = lookup("smtp_tls_exclude_ciphers = MD5\n", tmp_path=tmp_path,
                    table="[smtp.example.com]:587 may exclude=RC4\n")
    assert policy.exclude_ciphers == "RC4"


@pytest.mark.parametrize(("nexthop", "expected"), [
    ("[smtp.example.com]:587", "port"),
    ("[smtp.example.com]", "brackets"),
    ("smtp.example.com:587", "host-port"),
    ("example.com", "domain"),
    # Parent domains with a leading dot, for names only.
    ("sub.example.com", "dot-domain"),
    ("deep.sub.example.com", "dot-domain"),
    ("mail.example.org", "dot-org"),
    # One lookup only for anything that is not a plain host name.
    ("[sub.example.com]", "none"),
    ("sub.example.com:25", "none"),
])
def test_the_table_is_searched_with_the_nexthop_as_given(tmp_path: Path, nexthop: str,
                                                         expected: str) -> None:
    table = ("[smtp.example.com]:587 encrypt ciphers=port\n"
             "[smtp.example.com] encrypt ciphers=brackets\n"
             "smtp.example.com:587 encrypt ciphers=host-port\n"
             "example.com encrypt ciphers=domain\n"
             ".example.com encrypt ciphers=dot-domain\n"
             ".org encrypt ciphers=dot-org\n")
    main_cf = "smtp_tls_security_level = encrypt\nsmtp_tls_mandatory_ciphers = none\n"
    policy = policies(main_cf, tmp_path, table).lookup(nexthop, "")
    assert policy.ciphers == expected


def test_the_recipient_domain_stands_in_for_an_empty_nexthop(tmp_path: Path) -> None:
    p = policies("", tmp_path, ".example.com secure\n")
    assert p.lookup("", "sub.example.com").level is Level.SECURE
    assert p.lookup("[relay]", "sub.example.com").level is Level.NONE


def test_a_table_that_cannot_answer_defers() -> None:
    p = policies("smtp_tls_policy_maps = fail:broken\n")
    with pytest.raises(TlsPolicyError) as e:
        p.lookup("[mx]:25", "")
    assert e.value.warnings == ('warning: smtp_tls_policy_maps, next-hop destination '
                                '"[mx]:25": policy table lookup error',)
    assert str(e.value) == "client TLS configuration problem" and e.value.dsn == "4.7.5"


def test_obsolete_per_site_table_is_refused_rather_than_ignored() -> None:
    with pytest.raises(Fatal, match="smtp_tls_per_site is not supported"):
        policies("smtp_tls_per_site = hash:/etc/postfix/tls_per_site\n")
    policies("smtp_tls_per_site = hash:/etc/postfix/x\nsmtp_tls_policy_maps = static:may\n")


def test_dane_becomes_may_without_dnssec_and_dane_only_defers() -> None:
    policy = lookup("smtp_tls_security_level = dane\n", "example.com")
    assert policy.level is Level.MAY
    assert policy.warnings == ("warning: example.com: dane configured with dnssec lookups "
                               "disabled",)
    with pytest.raises(TlsPolicyError) as e:
        lookup("smtp_tls_security_level = dane-only\n", "example.com")
    assert e.value.warnings == ("warning: example.com: dane-only configured with dnssec "
                                "lookups disabled",)


def test_fingerprints_from_main_cf_are_normalized_and_checked() -> None:
    policy = lookup("smtp_tls_security_level = fingerprint\n"
                    "smtp_tls_fingerprint_cert_match = ab:cd, EF01 | zz\n")
    assert policy.match == ("ABCD", "EF01")
    assert policy.warnings == ("warning: malformed fingerprint value: zz",)


def _golden_policy_cases() -> list[tuple[str, str, list[str], str]]:
    """(name, table entry, expected warnings, status) of the captured policy cases that
    the policy decides alone (neither TLS nor the agent's own log line)."""
    out = []
    for block in GOLDEN.read_text().split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.splitlines():
            if ": " in line and not line.startswith("#"):
                key, value = line.split(": ", 1)
                fields.setdefault(key, []).append(value)
        if "policy" not in fields or "conf" in fields:
            continue
        logs = [line for line in fields.get("log", [])
                if "TLS policy lookup for" not in line and "[127.0.0.1]" not in line]
        if any("[127.0.0.1]" in line for line in fields.get("log", [])):
            continue  # decided at handshake time: tests/unit/delivery
        out.append((fields["case"][0], fields["policy"][0], logs, fields["status"][0]))
    return out


@pytest.mark.parametrize(("name", "entry", "warnings", "status"), _golden_policy_cases(),
                         ids=[c[0] for c in _golden_policy_cases()])
def test_table_entries_are_judged_as_postfix_judged_them(tmp_path: Path, name: str, entry: str,
                                                         warnings: list[str],
                                                         status: str) -> None:
    nexthop = "[localhost]:3151"
    table = entry.replace("@PORT@", "3151") + "\n"
    expected = [w.replace("@PORT@", "3151") for w in warnings]
    try:
        policy = policies("", tmp_path, table).lookup(nexthop, "")
    except TlsPolicyError as e:
        assert list(e.warnings) == expected
        assert status == f"deferred ({e})"
    else:
        assert list(policy.warnings) == expected
        assert status == "sent"
