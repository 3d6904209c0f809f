"""The smtp agent's STARTTLS, wrapper mode and SASL, against loopback servers with
throwaway certificates (trustme) -- the scripted server and aiosmtpd."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from smtp_server_support import PORTS, scripted_server

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.delivery.dns import MxResolver, Target
from mailrelay.delivery.smtp import SmtpAgent
from mailrelay.delivery.tls import TlsClient
from mailrelay.maps.registry import MapCache
from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult, Status
from mailrelay.queue.record import Envelope, Recipient
from mailrelay.route.nexthop import Nexthop
from mailrelay.sasl.settings import SaslClientSettings

CONTENT = b"From: s@corp.local\r\nSubject: tls\r\n\r\nhello\r\n"
BASE = "myhostname = relay.corp.local\nsmtp_helo_timeout = 2s\nsmtp_starttls_timeout = 2s\n"
TLS_KEYWORDS = ["PIPELINING", "STARTTLS", "AUTH PLAIN LOGIN", "8BITMIME"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("mx.example.com",))).configure_cert(context)
    return context


def request(nexthop: str, *, arrival: float | None = None) -> DeliveryRequest:
    rcpt = DeliveryRecipient(0, "a@example.com", "rfc822;a@example.com")
    envelope = Envelope("s@corp.local", (Recipient(rcpt.address),),
                        time.time() if arrival is None else arrival)
    return DeliveryRequest("4XQUEUEID", "smtp", nexthop, "s@corp.local", (rcpt,), envelope,
                           len(CONTENT))


class NamedResolver:
    """Every nexthop is mx.example.com on 127.0.0.1 (so that certificate names can match)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def targets(self, nexthop: Nexthop, default_port: int) -> list[Target]:
        return [Target("mx.example.com", "127.0.0.1", self.port, 0)]


async def deliver(main_cf: str, nexthop: str, *, resolver: Any = None,
                  arrival: float | None = None) -> tuple[RecipientResult, list[str]]:
    config = Config(parse_main_cf(BASE + main_cf, "main.cf"), "/etc/mailrelay")
    log: list[str] = []
    agent = SmtpAgent.from_config(
        config, log.append, resolver=resolver or MxResolver.from_config(config),
        tls=TlsClient.from_config(config),
        sasl=SaslClientSettings.from_config(config, MapCache()))
    try:
        [result] = await agent.deliver(request(nexthop, arrival=arrival), CONTENT)
    finally:
        await agent.close()
    return result, log


# -- STARTTLS ---------------------------------------------------------------------------------


async def test_may_uses_starttls_when_offered_and_logs_the_connection(ca: trustme.CA):
    script = {"ehlo_keywords": TLS_KEYWORDS, "tls": server_context(ca)}
    async with scripted_server(script) as server:
        result, log = await deliver("smtp_tls_security_level = may\nsmtp_tls_loglevel = 1\n",
                                    f"[127.0.0.1]:{server.port}")
    assert result.status is Status.SENT
    assert server.commands[:3] == ["EHLO relay.corp.local", "STARTTLS", "EHLO relay.corp.local"]
    assert len(log) == 1
    assert log[0].startswith(f"Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:"
                             f"{server.port}: TLSv1.")


async def test_may_without_starttls_on_offer_delivers_in_the_clear():
    async with scripted_server({"ehlo_keywords": ["PIPELINING"]}) as server:
        result, _ = await deliver("smtp_tls_security_level = may\n",
                                  f"[127.0.0.1]:{server.port}")
    assert result.status is Status.SENT and "STARTTLS" not in server.commands


async def test_encrypt_defers_when_starttls_is_not_offered():
    async with scripted_server({"ehlo_keywords": ["PIPELINING"]}) as server:
        result, _ = await deliver("smtp_tls_security_level = encrypt\n",
                                  f"[127.0.0.1]:{server.port}")
    assert (result.status, result.dsn, result.reason) == (
        Status.DEFERRED, "4.7.4",
        "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]")
    assert server.commands == ["EHLO relay.corp.local", "QUIT"]


async def test_encrypt_defers_when_the_server_refuses_starttls():
    script = {"ehlo_keywords": TLS_KEYWORDS, "starttls": "454 4.7.0 TLS not available"}
    async with scripted_server(script) as server:
        result, _ = await deliver("smtp_tls_security_level = encrypt\n",
                                  f"[127.0.0.1]:{server.port}")
    assert (result.status, result.dsn, result.reason) == (
        Status.DEFERRED, "4.7.0", "TLS is required, but host 127.0.0.1[127.0.0.1] refused to "
        "start TLS: 454 4.7.0 TLS not available")
    assert result.diagnostic == "smtp; 454 4.7.0 TLS not available"


async def test_a_refused_starttls_at_may_goes_on_in_the_clear():
    script = {"ehlo_keywords": TLS_KEYWORDS, "starttls": "454 4.7.0 TLS not available"}
    async with scripted_server(script) as server:
        result, _ = await deliver("smtp_tls_security_level = may\n",
                                  f"[127.0.0.1]:{server.port}")
    assert result.status is Status.SENT
    assert server.commands[:3] == ["EHLO relay.corp.local", "STARTTLS",
                                   "MAIL FROM:<s@corp.local>"]


async def test_verify_defers_a_certificate_from_an_unknown_ca(ca: trustme.CA):
    script = {"ehlo_keywords": TLS_KEYWORDS, "tls": server_context(ca)}
    async with scripted_server(script) as server:
        result, _ = await deliver("smtp_tls_security_level = verify\n",
                                  f"[127.0.0.1]:{server.port}",
                                  resolver=NamedResolver(server.port))
    assert (result.status, result.dsn, result.reason) == (
        Status.DEFERRED, "4.7.5", "Server certificate not verified")
    assert "MAIL FROM:<s@corp.local>" not in " ".join(server.commands)


async def test_verify_delivers_to_a_server_whose_certificate_matches(ca: trustme.CA,
                                                                   tmp_path: Path):
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    script = {"ehlo_keywords": TLS_KEYWORDS, "tls": server_context(ca, "mx.example.com")}
    async with scripted_server(script) as server:
        result, log = await deliver(
            f"smtp_tls_security_level = verify\nsmtp_tls_CAfile = {cafile}\n"
            "smtp_tls_loglevel = 1\n", "example.com", resolver=NamedResolver(server.port))
    assert result.status is Status.SENT
    assert log[-1].startswith("Verified TLS connection established to "
                              f"mx.example.com[127.0.0.1]:{server.port}")


async def test_a_failed_handshake_defers_fresh_mail(ca: trustme.CA):
    # The server says 220 to STARTTLS, then hangs up.
    script = {"ehlo_keywords": TLS_KEYWORDS, "after_starttls": "DROP"}
    async with scripted_server(script) as server:
        result, _ = await deliver("smtp_tls_security_level = may\n",
                                  f"[127.0.0.1]:{server.port}")
    assert (result.status, result.dsn, result.reason) == (
        Status.DEFERRED, "4.7.5", "Cannot start TLS: handshake failure")


async def test_mail_that_waited_long_enough_is_retried_in_the_clear_after_a_failed_handshake():
    script = {"ehlo_keywords": TLS_KEYWORDS, "after_starttls": "DROP"}
    async with scripted_server(script) as server:
        result, log = await deliver("smtp_tls_security_level = may\n",
                                    f"[127.0.0.1]:{server.port}", arrival=time.time() - 3600)
    assert result.status is Status.SENT
    assert log == [f"SSL_connect error to 127.0.0.1[127.0.0.1]:{server.port}: lost connection",
                   "4XQUEUEID: Cannot start TLS: handshake failure"]
    assert len(server.sessions) == 2 and "STARTTLS" not in server.sessions[1].commands


async def test_wrapper_mode_speaks_tls_from_the_first_byte(ca: trustme.CA):
    async with scripted_server({"wrapper": server_context(ca)}) as server:
        result, log = await deliver(
            "smtp_tls_wrappermode = yes\nsmtp_tls_security_level = encrypt\n"
            "smtp_tls_loglevel = 1\n", f"[127.0.0.1]:{server.port}")
    assert result.status is Status.SENT
    assert "TLS connection established to 127.0.0.1[127.0.0.1]" in log[0]


async def test_wrapper_mode_below_encrypt_skips_the_server(ca: trustme.CA):
    async with scripted_server({"wrapper": server_context(ca)}) as server:
        result, log = await deliver("smtp_tls_wrappermode = yes\nsmtp_tls_security_level = may\n",
                                    f"[127.0.0.1]:{server.port}")
    assert (result.status, result.dsn, result.reason, result.relay) == (
        Status.DEFERRED, "4.3.0", "server unavailable or unable to receive mail", "none")
    assert log == ['warning: smtp_tls_wrappermode requires "smtp_tls_security_level = encrypt" '
                   "(or stronger)"]
    assert server.sessions == []


# -- SASL -------------------------------------------------------------------------------------


def sasl_cf(port: int, options: str = "noanonymous") -> str:
    entry = f"[127.0.0.1]:{port} = user@corp.local:s3cr=t pass"
    return ("smtp_sasl_auth_enable = yes\n"
            f"smtp_sasl_password_maps = inline:{{ {{{entry}}} }}\n"
            f"smtp_sasl_tls_security_options = {options}\n")


async def test_auth_plain_is_used_over_tls_and_the_password_is_never_logged(ca: trustme.CA):
    script = {"ehlo_keywords": TLS_KEYWORDS, "tls": server_context(ca),
              "auth_steps": ["235 2.7.0 Authentication successful"]}
    async with scripted_server(script) as server:
        result, log = await deliver("smtp_tls_security_level = encrypt\nsmtp_tls_loglevel = 1\n"
                                    + sasl_cf(server.port), f"[127.0.0.1]:{server.port}")
    assert result.status is Status.SENT
    assert "AUTH PLAIN AHVzZXJAY29ycC5sb2NhbABzM2NyPXQgcGFzcw==" in server.commands
    assert not any("s3cr=t" in line for line in log)


async def test_a_refused_login_defers_with_the_server_reply(ca: trustme.CA):
    script = {"ehlo_keywords": TLS_KEYWORDS, "tls": server_context(ca),
              "auth_steps": ["535 5.7.8 Error: authentication failed: bad"]}
    async with scripted_server(script) as server:
        result, _ = await deliver("smtp_tls_security_level = encrypt\n" + sasl_cf(server.port),
                                  f"[127.0.0.1]:{server.port}")
    assert (result.status, result.dsn, result.reason) == (
        Status.DEFERRED, "4.7.8", "SASL authentication failed; server 127.0.0.1[127.0.0.1] "
        "said: 535 5.7.8 Error: authentication failed: bad")
    assert server.commands[-1] == "QUIT"


async def test_auth_login_answers_the_challenges():
    script = {"ehlo_keywords": ["PIPELINING", "AUTH LOGIN"],
              "auth_steps": ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0 ok"]}
    async with scripted_server(script) as server:
        cf = sasl_cf(server.port).replace("smtp_sasl_tls_security_options",
                                          "smtp_sasl_security_options")
        result, _ = await deliver(cf, f"[127.0.0.1]:{server.port}")
    assert result.status is Status.SENT
    assert server.commands[1:4] == ["AUTH LOGIN", "dXNlckBjb3JwLmxvY2Fs", "czNjcj10IHBhc3M="]


async def test_plaintext_mechanisms_are_refused_in_the_clear_by_default():
    script = {"ehlo_keywords": ["PIPELINING", "AUTH PLAIN LOGIN"]}
    async with scripted_server(script) as server:
        result, log = await deliver(sasl_cf(server.port), f"[127.0.0.1]:{server.port}")
    assert (result.status, result.dsn, result.reason) == (
        Status.DEFERRED, "4.7.0", "SASL authentication failed; cannot authenticate to server "
        "127.0.0.1[127.0.0.1]: no mechanism available")
    assert log == ["warning: SASL authentication failure: No worthy mechs found"]


async def test_a_server_offering_only_unknown_mechanisms_is_reported_as_postfix_does():
    async with scripted_server({"ehlo_keywords": ["PIPELINING", "AUTH CRAM-MD5"]}) as server:
        result, log = await deliver(sasl_cf(server.port), f"[127.0.0.1]:{server.port}")
    assert (result.status, result.dsn) == (Status.DEFERRED, "4.7.0")
    assert result.reason == ("SASL authentication failed: server 127.0.0.1[127.0.0.1] offered no "
                             "compatible authentication mechanisms for this type of connection "
                             "security")
    assert log == [f"warning: 127.0.0.1[127.0.0.1]:{server.port} offered no supported AUTH "
                   "mechanisms: 'CRAM-MD5'"]


async def test_without_credentials_for_the_server_there_is_no_auth():
    async with scripted_server({"ehlo_keywords": ["PIPELINING", "AUTH PLAIN"]}) as server:
        result, _ = await deliver(sasl_cf(1), f"[127.0.0.1]:{server.port}")
    assert result.status is Status.SENT
    assert not any(c.startswith("AUTH") for c in server.commands)


# -- a real SMTP server -----------------------------------------------------------------------


class Handler:
    def __init__(self) -> None:
        self.envelopes: list[SmtpEnvelope] = []

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: SmtpEnvelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as AIOSMTPD"


def authenticator(server: SMTP, session: Session, envelope: SmtpEnvelope, mechanism: str,
                  data: Any) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"user@corp.local", b"s3cr=t pass")
    return AuthResult(success=good)


async def test_aiosmtpd_with_starttls_and_auth_takes_the_mail(ca: trustme.CA):
    handler = Handler()
    loop = asyncio.get_running_loop()
    context = server_context(ca)
    aio: asyncio.AbstractServer | None = None
    for port in PORTS:
        try:
            aio = await loop.create_server(
                lambda: SMTP(handler, tls_context=context, require_starttls=True,
                             authenticator=authenticator, hostname="aiosmtpd.test"),
                "127.0.0.1", port)
        except OSError:
            continue
        break
    assert aio is not None
    try:
        result, _ = await deliver("smtp_tls_security_level = encrypt\n" + sasl_cf(port),
                                  f"[127.0.0.1]:{port}")
    finally:
        aio.close()
        await aio.wait_closed()
    assert (result.status, result.reason) == (Status.SENT, "250 2.0.0 Ok: queued as AIOSMTPD")
    [envelope] = handler.envelopes
    assert envelope.mail_from == "s@corp.local" and envelope.rcpt_tos == ["a@example.com"]
    assert envelope.content == CONTENT


async def test_a_bad_tls_policy_entry_skips_the_server_and_defers():
    async with scripted_server({"ehlo_keywords": TLS_KEYWORDS}) as server:
        nexthop = f"[127.0.0.1]:{server.port}"
        result, log = await deliver(
            f"smtp_tls_policy_maps = inline:{{ {{{nexthop} = bogus}} }}\n", nexthop)
    assert (result.status, result.dsn, result.reason, result.relay) == (
        Status.DEFERRED, "4.7.5", "client TLS configuration problem", "none")
    assert log == [
        f'warning: smtp_tls_policy_maps, next-hop destination "{nexthop}": invalid security '
        'level "bogus"',
        f"warning: TLS policy lookup for {nexthop}/127.0.0.1: client TLS configuration problem"]
    assert server.sessions == []
