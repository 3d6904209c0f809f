"""Reading TLS handshake messages: what Python's ssl module does not tell."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from tls_support import Pki, server_context, tls_connection, tls_server

from mailrelay.delivery.handshake import HandshakeObserver, certificate_chain, server_hello_group


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


async def observe(pem: Path, options: dict[str, str] | None = None) -> tuple[int | None,
                                                                           int | None, int]:
    observer = HandshakeObserver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    assert observer.install(context)
    async with tls_server(server_context(pem, options)) as port, \
            tls_connection(port, context) as ssl_object:
        facts = observer.facts(ssl_object)
        assert facts is not None
        return facts.group, facts.scheme, len(facts.chain)


def test_tls13_group_scheme_and_chain(pki: Pki) -> None:
    pem, _ = pki.issue("san=DNS:a intermediate")
    assert asyncio.run(observe(pem)) == (0x001D, 0x0403, 2)


def test_a_hello_retry_ends_with_the_servers_group(pki: Pki) -> None:
    pem, _ = pki.issue("san=DNS:a rsa")
    assert asyncio.run(observe(pem, {"curve": "prime256v1"})) == (0x0017, 0x0804, 1)


def test_tls12_certificate_message(pki: Pki) -> None:
    pem, _ = pki.issue("san=DNS:a")
    # No key_share in a TLS 1.2 ServerHello, no CertificateVerify from a TLS 1.2 server.
    assert asyncio.run(observe(pem, {"maxver": "TLSv1_2"})) == (None, None, 1)


def test_messages_are_parsed_strictly() -> None:
    cert = b"\x30\x03\x02\x01\x01"
    tls12 = b"\x0b\x00\x00\x0b" + b"\x00\x00\x08" + b"\x00\x00\x05" + cert
    assert certificate_chain(tls12, tls13=False) == [cert]
    with pytest.raises(ValueError):
        certificate_chain(tls12 + b"\x00", tls13=False)
    hello = (b"\x02\x00\x00\x00" + b"\x03\x03" + b"\x00" * 32 + b"\x00" + b"\x13\x01" + b"\x00"
             + b"\x00\x08" + b"\x00\x33\x00\x04\x00\x1d\x00\x00")
    assert server_hello_group(hello) == 0x001D


def test_garbage_never_breaks_the_handshake() -> None:
    observer = HandshakeObserver()
    observer(object(), "read", 0x0304, 22, 2, b"\x02\x00")
    observer(object(), "read", 0x0304, 22, 11, b"\x0b\xff")
    assert observer.facts(object()) is None
