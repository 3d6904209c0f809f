"""The smtp client's TLS: real handshakes on loopback, judged and logged as Postfix does.

The golden cases (``tests/golden/smtp_tls/*.cases``) were captured from Postfix 3.7.11
delivering to a STARTTLS server with the same kinds of certificates; here the same
certificate is served by a TLS server in the test's loop and mailrelay's client must log
the same lines and end the delivery the same way.
"""

from __future__ import annotations

import asyncio
import ssl
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from tls_support import (
    Pki,
    fingerprints,
    load_cases,
    server_context,
    tls_connection,
    tls_server,
)

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.delivery.tls import TlsClient, TlsSetupError
from mailrelay.maps.registry import MapCache
from mailrelay.tlspolicy.policy import Level, TlsPolicies, TlsPolicy, TlsPolicyError
from mailrelay.util.diagnostic import Fatal

GOLDEN = Path(__file__).parents[2] / "golden" / "smtp_tls"
#: The oracle's main.cf, as far as the smtp client's TLS cares.
BASE_MAIN_CF = """\
compatibility_level = 3.6
myhostname = relay.corp.local
mydomain = corp.local
mydestination = $myhostname, localhost.$mydomain, localhost
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def config(lines: list[str], tmp_path: Path, policy: list[str] = ()) -> Config:  # type: ignore[assignment]
    text = BASE_MAIN_CF + "".join(f"{line}\n" for line in lines)
    if policy:
        (tmp_path / "policy").write_text("".join(f"{line}\n" for line in policy))
        text += f"smtp_tls_policy_maps = texthash:{tmp_path / 'policy'}\n"
    return Config(parse_main_cf(text, "main.cf"), "/etc/postfix")


async def deliver(case: dict[str, list[str]], pki: Pki, tmp_path: Path) -> tuple[list[str], str]:
    """What mailrelay's client logs and how the delivery ends, for one golden case (the
    server's port written @PORT@, as in the capture)."""
    async with AsyncExitStack() as stack:
        lines, status, port = await _deliver(case, pki, tmp_path, stack)
    return [line.replace(f":{port}", ":@PORT@") for line in lines], status


async def _deliver(case: dict[str, list[str]], pki: Pki, tmp_path: Path,
                   stack: AsyncExitStack) -> tuple[list[str], str, int]:
    pem, cert = pki.issue(case.get("cert", ["san=DNS:localhost"])[0])
    options = dict(o.split("=", 1) for o in case.get("server", [""])[0].split())
    port = await stack.enter_async_context(tls_server(server_context(pem, options)))
    values = {"@PORT@": str(port), "@CA@": str(pki.ca_file), **fingerprints(cert)}

    def fill(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            for key, value in values.items():
                line = line.replace(key, value)
            out.append(line)
        return out

    cfg = config(fill(case.get("conf", [])), tmp_path, fill(case.get("policy", [])))
    nexthop = f"[localhost]:{port}"
    try:
        policy = TlsPolicies.from_config(cfg, MapCache()).lookup(nexthop, "")
    except TlsPolicyError as e:
        # The smtp agent adds its own line: "TLS policy lookup for DEST/HOST: REASON".
        return [*e.warnings, f"warning: TLS policy lookup for {nexthop}/localhost: {e}"], \
            f"deferred ({e})", port
    lines = list(policy.warnings)
    if policy.level is Level.NONE:
        return lines, "sent", port
    client = TlsClient.from_config(cfg)
    try:
        context = client.context(policy)
    except TlsSetupError as e:
        return [*lines, f"warning: localhost[127.0.0.1]:{port}: {e.detail}"], \
            f"deferred ({e})", port
    ssl_object = await stack.enter_async_context(tls_connection(port, context))
    reason = client.check(ssl_object, policy, "localhost", nexthop)
    lines += client.verification_log(ssl_object, policy, "localhost", nexthop, "127.0.0.1",
                                     port)
    if client.loglevel >= 1:
        lines.append(client.established(ssl_object, policy, "localhost", "127.0.0.1", port))
    return lines, "sent" if reason is None else f"deferred ({reason})", port


def golden(*names: str) -> list[dict[str, list[str]]]:
    return [case for name in names for case in load_cases(GOLDEN / name)]


def _id(case: dict[str, list[str]]) -> str:
    return case["case"][0]


TLS_CASES = [c for c in golden("established.cases", "verification.cases", "policy.cases")]


@pytest.mark.parametrize("case", TLS_CASES, ids=_id)
def test_the_client_logs_and_decides_as_postfix_did(case: dict[str, list[str]], pki: Pki,
                                                    tmp_path: Path) -> None:
    lines, status = asyncio.run(deliver(case, pki, tmp_path))
    assert lines == case.get("log", [])
    assert status == case["status"][0]


# -- what the golden cases do not show ----------------------------------------------------


def policy_for(lines: list[str], tmp_path: Path, nexthop: str = "[localhost]:25",
               table: list[str] = ()) -> tuple[TlsClient, TlsPolicy]:  # type: ignore[assignment]
    cfg = config(lines, tmp_path, table)
    return TlsClient.from_config(cfg), TlsPolicies.from_config(cfg, MapCache()).lookup(nexthop, "")


async def negotiated(client: TlsClient, policy: TlsPolicy, server: ssl.SSLContext) -> str:
    async with tls_server(server) as port, tls_connection(port, client.context(policy)) as o:
        return o.version() or ""


async def checked(client: TlsClient, policy: TlsPolicy, pem: Path, hostname: str = "localhost",
                  nexthop: str = "[localhost]:25") -> str | None:
    async with tls_server(server_context(pem)) as port, \
            tls_connection(port, client.context(policy)) as o:
        return client.check(o, policy, hostname, nexthop)


def test_may_and_encrypt_accept_any_certificate(pki: Pki, tmp_path: Path) -> None:
    pem, _ = pki.issue("san=DNS:nowhere.example ca=other expired")
    for level in ("may", "encrypt"):
        client, policy = policy_for([f"smtp_tls_security_level = {level}"], tmp_path)
        assert asyncio.run(checked(client, policy, pem)) is None


def test_protocols_limit_the_versions_the_client_offers(pki: Pki, tmp_path: Path) -> None:
    pem, _ = pki.issue("san=DNS:localhost")
    client, policy = policy_for(["smtp_tls_security_level = encrypt",
                                 "smtp_tls_mandatory_protocols = <=TLSv1.2"], tmp_path)
    assert asyncio.run(negotiated(client, policy, server_context(pem))) == "TLSv1.2"
    client, policy = policy_for(["smtp_tls_security_level = may",
                                 "smtp_tls_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1"],
                                tmp_path)
    assert asyncio.run(negotiated(client, policy, server_context(pem))) == "TLSv1.3"


def test_a_server_below_the_minimum_version_fails_the_handshake(pki: Pki,
                                                                 tmp_path: Path) -> None:
    pem, _ = pki.issue("san=DNS:localhost")
    client, policy = policy_for(["smtp_tls_security_level = encrypt",
                                 "smtp_tls_mandatory_protocols = >=TLSv1.3"], tmp_path)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        asyncio.run(negotiated(client, policy, server_context(pem, {"maxver": "TLSv1_2"})))


def test_secure_matches_the_nexthop_not_the_mx_host_name(pki: Pki, tmp_path: Path) -> None:
    pem, _ = pki.issue("san=DNS:mail.example.com")
    ca = f"smtp_tls_CAfile = {pki.ca_file}"

    async def reason(level: str, hostname: str, nexthop: str) -> str | None:
        client, policy = policy_for([f"smtp_tls_security_level = {level}", ca], tmp_path,
                                    nexthop)
        return await checked(client, policy, pem, hostname, nexthop)

    # An MX host mx1.example.com whose certificate names the domain's mail service.
    assert asyncio.run(reason("secure", "mx1.example.com", "mail.example.com")) is None
    assert asyncio.run(reason("verify", "mx1.example.com", "mail.example.com")) == \
        "Server certificate not verified"
    assert asyncio.run(reason("secure", "mail.example.com", "example.com")) is None
    assert asyncio.run(reason("secure", "mail.example.com", "other.example")) == \
        "Server certificate not verified"


def test_capath_is_a_hashed_directory_of_cas(pki: Pki, tmp_path: Path) -> None:
    capath = tmp_path / "certs"
    capath.mkdir()
    der = ssl.PEM_cert_to_DER_cert(pki.ca_file.read_text())
    # OpenSSL's subject hash (what c_rehash names the link after) of the CA certificate.
    subject_hash = _subject_hash(der)
    (capath / f"{subject_hash}.0").write_text(pki.ca_file.read_text())
    pem, _ = pki.issue("san=DNS:localhost")
    client, policy = policy_for(["smtp_tls_security_level = verify",
                                 f"smtp_tls_CApath = {capath}"], tmp_path)
    assert asyncio.run(checked(client, policy, pem)) is None


def _subject_hash(der: bytes) -> str:
    import subprocess

    result = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject_hash"],
                            input=der, capture_output=True, check=True)
    return result.stdout.decode().strip()


def test_the_client_presents_its_certificate(pki: Pki, tmp_path: Path) -> None:
    client_pem, _ = pki.issue("cn=relay.corp.local")
    server_pem, _ = pki.issue("san=DNS:localhost")
    server = server_context(server_pem)
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(pki.ca_file)
    client, policy = policy_for(["smtp_tls_security_level = encrypt",
                                 f"smtp_tls_cert_file = {client_pem}"], tmp_path)
    assert asyncio.run(negotiated(client, policy, server)) == "TLSv1.3"
    bare, policy = policy_for(["smtp_tls_security_level = encrypt"], tmp_path)
    with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
        asyncio.run(_handshake_then_read(bare, policy, server))


async def _handshake_then_read(client: TlsClient, policy: TlsPolicy,
                               server: ssl.SSLContext) -> None:
    # In TLS 1.3 the server refuses a missing client certificate after the client's
    # handshake completed: the refusal arrives with the first read.
    async with tls_server(server) as port:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client.context(policy), server_hostname=None)
        try:
            assert await reader.read(1) != b""
        finally:
            writer.close()


def test_a_missing_client_key_is_fatal_at_startup(tmp_path: Path) -> None:
    cfg = config([f"smtp_tls_cert_file = {tmp_path / 'missing.pem'}"], tmp_path)
    with pytest.raises(Fatal) as e:
        TlsClient.from_config(cfg)
    assert e.value.parameter == "smtp_tls_cert_file"
    assert e.value.text.startswith("cannot load client TLS certificate or key: ")


def test_a_missing_cafile_is_fatal_at_startup(tmp_path: Path) -> None:
    cfg = config([f"smtp_tls_CAfile = {tmp_path / 'missing.pem'}"], tmp_path)
    with pytest.raises(Fatal) as e:
        TlsClient.from_config(cfg)
    assert e.value.parameter == "smtp_tls_CAfile"


def test_contexts_are_shared_by_policies_with_the_same_protocols_and_ciphers(
        tmp_path: Path) -> None:
    client, may = policy_for(["smtp_tls_security_level = may"], tmp_path)
    _, encrypt = policy_for(["smtp_tls_security_level = encrypt"], tmp_path)
    _, high = policy_for(["smtp_tls_security_level = encrypt",
                          "smtp_tls_mandatory_ciphers = high"], tmp_path)
    assert client.context(may) is client.context(encrypt)
    assert client.context(may) is not client.context(high)
    context = client.context(may)
    assert context.verify_mode is ssl.CERT_NONE and not context.check_hostname


def test_a_bad_exclusion_is_a_setup_error(tmp_path: Path) -> None:
    client, policy = policy_for(["smtp_tls_security_level = encrypt",
                                 "smtp_tls_mandatory_exclude_ciphers = !MD5"], tmp_path)
    with pytest.raises(TlsSetupError) as e:
        client.context(policy)
    assert e.value.detail == "invalid unary '!+-@' in cipher exclusion: \"!MD5\""
    assert str(e.value) == "Cannot start TLS: handshake failure"


def test_an_anonymous_session_is_logged_as_such(tmp_path: Path) -> None:
    client, policy = policy_for(["smtp_tls_security_level = may",
                                 "smtp_tls_protocols = <=TLSv1.2",
                                 "smtp_tls_ciphers = high"], tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.maximum_version = ssl.TLSVersion.TLSv1_2
    server.set_ciphers("aNULL:@SECLEVEL=0")
    client_context = client.context(policy)
    client_context.set_ciphers("aNULL:@SECLEVEL=0")

    async def run() -> str:
        async with tls_server(server) as port, tls_connection(port, client_context) as o:
            return client.established(o, policy, "mx", "192.0.2.1", 25)

    assert asyncio.run(run()) == ("Anonymous TLS connection established to mx[192.0.2.1]:25: "
                                  "TLSv1.2 with cipher AECDH-AES256-SHA (256/256 bits)")
