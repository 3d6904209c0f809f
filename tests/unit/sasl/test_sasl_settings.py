"""The smtp client's SASL settings: credentials by sender, host and nexthop; mechanisms."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.maps.base import MapLookupError
from mailrelay.maps.registry import MapCache
from mailrelay.sasl.settings import Credentials, SaslClientSettings
from mailrelay.util.diagnostic import Fatal

GOLDEN = Path(__file__).parents[2] / "golden" / "smtp_tls" / "sasl.cases"
#: The oracle's main.cf, as far as credentials care.
BASE_MAIN_CF = """\
compatibility_level = 3.6
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
mydestination = $myhostname, localhost.$mydomain, localhost
"""
PORT = 3151


def settings(lines: list[str], tmp_path: Path, table: list[str] = ()) -> SaslClientSettings:  # type: ignore[assignment]
    text = BASE_MAIN_CF + "".join(f"{line}\n" for line in lines)
    if table:
        (tmp_path / "sasl_passwd").write_text("".join(f"{line}\n" for line in table))
        text += f"smtp_sasl_password_maps = texthash:{tmp_path / 'sasl_passwd'}\n"
    return SaslClientSettings.from_config(Config(parse_main_cf(text, "main.cf"), "/etc/postfix"),
                                          MapCache())


def golden_cases() -> list[dict[str, list[str]]]:
    cases = []
    for block in GOLDEN.read_text().split("\n\n"):
        case: dict[str, list[str]] = {}
        for line in block.splitlines():
            if ": " in line and not line.startswith("#"):
                key, value = line.split(": ", 1)
                case.setdefault(key, []).append(value.replace("@PORT@", str(PORT)))
        if "case" in case:
            cases.append(case)
    return cases


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: c["case"][0])
def test_credentials_and_mechanism_are_postfixs(case: dict[str, list[str]],
                                                tmp_path: Path) -> None:
    s = settings(case["conf"], tmp_path, case["sasl"])
    sender = case.get("sender", ["a@corp.local"])[0]
    found = s.credentials("localhost", PORT, True, "" if sender == "<>" else sender)
    # The capture server offered "AUTH LOGIN PLAIN" over TLS.
    mechanisms = s.allowed_mechanisms(["LOGIN", "PLAIN"], tls_active=True)
    if "auth" in case:
        mechanism, username, password = case["auth"][0].split(" ", 2)
        assert found is not None
        assert (mechanisms[0], found.username, found.password) == (mechanism, username, password)
    elif case["status"][0] == "sent":
        assert found is None  # Postfix sent the mail without authenticating
    else:
        # "No worthy mechs found": credentials, but no mechanism allowed.
        assert found is not None and mechanisms == []


def test_credentials_say_where_they_came_from_and_hide_the_password(tmp_path: Path) -> None:
    s = settings([], tmp_path, ["[smtp.office365.com]:587 relay@corp.local:s3cret"])
    found = s.credentials("smtp.office365.com", 587, True, "a@corp.local")
    assert found == Credentials("relay@corp.local", "s3cret", "[smtp.office365.com]:587",
                                "smtp_sasl_password_maps (main.cf:6)")
    assert "s3cret" not in repr(found)


def test_the_nexthop_may_be_given_as_routed(tmp_path: Path) -> None:
    s = settings([], tmp_path, ["example.com user:pw", "[mx.example.com]:25 other:pw"])
    # An MX delivery: the MX host's name, then the recipient domain (the nexthop).
    found = s.credentials("mx1.example.com", 25, False, "", nexthop="example.com")
    assert found is not None and found.key == "example.com"
    # Rebuilt without it: [host] plus :port unless 25.
    assert s.credentials("mx.example.com", 25, True, "") is None
    assert s.credentials("mx.example.com", 25, True, "", nexthop="[mx.example.com]:25")


def test_no_table_means_no_credentials(tmp_path: Path) -> None:
    s = settings(["smtp_sasl_auth_enable = yes"], tmp_path)
    assert s.enabled and s.credentials("smtp.example.com", 587, True, "a@b") is None


def test_a_table_that_cannot_answer_raises(tmp_path: Path) -> None:
    s = settings(["smtp_sasl_password_maps = fail:down"], tmp_path)
    with pytest.raises(MapLookupError):
        s.credentials("smtp.example.com", 587, True, "")


def test_settings_read_from_main_cf(tmp_path: Path) -> None:
    s = settings([], tmp_path)
    assert (s.enabled, s.auth_soft_bounce, s.sender_dependent) == (False, True, False)
    s = settings(["smtp_sasl_auth_enable = yes", "smtp_sasl_auth_soft_bounce = no",
                  "smtp_sender_dependent_authentication = yes"], tmp_path)
    assert (s.enabled, s.auth_soft_bounce, s.sender_dependent) == (True, False, True)


@pytest.mark.parametrize(("lines", "tls", "verified", "expected"), [
    # Default: noplaintext, noanonymous everywhere.
    ([], False, False, []),
    ([], True, False, []),
    (["smtp_sasl_security_options = noanonymous"], False, False, ["PLAIN", "LOGIN"]),
    (["smtp_sasl_security_options = noanonymous"], True, False, ["PLAIN", "LOGIN"]),
    (["smtp_sasl_tls_security_options = noanonymous"], False, False, []),
    (["smtp_sasl_tls_security_options = noanonymous"], True, False, ["PLAIN", "LOGIN"]),
    (["smtp_sasl_tls_verified_security_options = noanonymous"], True, False, []),
    (["smtp_sasl_tls_verified_security_options = noanonymous"], True, True, ["PLAIN", "LOGIN"]),
    (["smtp_sasl_security_options ="], False, False, ["PLAIN", "LOGIN"]),
    (["smtp_sasl_security_options = noactive"], False, False, []),
    (["smtp_sasl_security_options = nodictionary"], False, False, []),
    (["smtp_sasl_security_options = mutual_auth"], False, False, []),
])
def test_security_options_by_channel(lines: list[str], tls: bool, verified: bool,
                                     expected: list[str], tmp_path: Path) -> None:
    s = settings(lines, tmp_path)
    assert s.allowed_mechanisms(["CRAM-MD5", "LOGIN", "PLAIN", "ANONYMOUS"], tls,
                                tls_verified=verified) == expected


def test_plain_is_preferred_and_only_offered_mechanisms_are_used(tmp_path: Path) -> None:
    s = settings(["smtp_sasl_security_options ="], tmp_path)
    assert s.allowed_mechanisms(["login", "plain"], False) == ["PLAIN", "LOGIN"]
    assert s.allowed_mechanisms(["LOGIN", "GSSAPI"], False) == ["LOGIN"]
    assert s.allowed_mechanisms(["XOAUTH2", "CRAM-MD5"], False) == []


@pytest.mark.parametrize(("value", "expected"), [
    ("plain, login", ["PLAIN", "LOGIN"]),
    ("login", ["LOGIN"]),
    ("!gssapi, !login, static:rest", ["PLAIN"]),
    ("!plain", []),
    ("inline:{PLAIN=yes}", ["PLAIN"]),
])
def test_the_mechanism_filter(value: str, expected: list[str], tmp_path: Path) -> None:
    s = settings(["smtp_sasl_security_options =", f"smtp_sasl_mechanism_filter = {value}"],
                 tmp_path)
    assert s.allowed_mechanisms(["GSSAPI", "LOGIN", "PLAIN"], False) == expected


def test_the_mechanism_filter_reads_files(tmp_path: Path) -> None:
    (tmp_path / "mechs").write_text("# allowed\nlogin\n")
    s = settings(["smtp_sasl_security_options =",
                  f"smtp_sasl_mechanism_filter = {tmp_path / 'mechs'}"], tmp_path)
    assert s.allowed_mechanisms(["LOGIN", "PLAIN"], False) == ["LOGIN"]


def test_an_unknown_security_option_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(Fatal) as e:
        settings(["smtp_sasl_security_options = noplaintext, strong"], tmp_path)
    assert e.value.parameter == "smtp_sasl_security_options"
