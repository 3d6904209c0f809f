"""What a TLS handshake showed that Python's ssl module does not report.

Postfix logs, for TLS 1.3, the key exchange group and the server's signature scheme
(``key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256``), and
verifies the whole chain the server sent.  Python 3.11's ``SSLObject`` gives neither the
negotiated group, nor the signature scheme, nor the intermediate certificates.  OpenSSL's
message callback does (``SSLContext._msg_callback``, a CPython debugging hook present since
3.8): it sees every handshake message in clear, so :class:`HandshakeObserver` reads the
server's ServerHello (key_share), Certificate and CertificateVerify messages and keeps what
it found per connection.  When the hook is missing, nothing is observed: the log line loses
its TLS 1.3 details and only the server's own certificate is verified.

A parse error never escapes into the handshake (an exception in the callback would fail it):
the observer drops what it cannot read.
"""

from __future__ import annotations

import contextlib
import ssl
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mailrelay.tlspolicy.certificate import CertificateError, parse_certificate

_HANDSHAKE = 22
_SERVER_HELLO, _CERTIFICATE, _CERTIFICATE_VERIFY = 2, 11, 15
_KEY_SHARE = 0x0033
_TLS13 = 0x0304

#: TLS named groups as Postfix logs the key exchange.
GROUPS = {0x001D: "X25519", 0x001E: "X448", 0x0017: "ECDHE (prime256v1)",
          0x0018: "ECDHE (secp384r1)", 0x0019: "ECDHE (secp521r1)",
          0x0100: "DHE (2048 bits)", 0x0101: "DHE (3072 bits)", 0x0102: "DHE (4096 bits)",
          0x0103: "DHE (6144 bits)", 0x0104: "DHE (8192 bits)"}
#: TLS signature schemes: (signature name, digest name) as Postfix logs them.
SCHEMES = {0x0403: ("ECDSA", "SHA256"), 0x0503: ("ECDSA", "SHA384"),
           0x0603: ("ECDSA", "SHA512"), 0x0804: ("RSA-PSS", "SHA256"),
           0x0805: ("RSA-PSS", "SHA384"), 0x0806: ("RSA-PSS", "SHA512"),
           0x0809: ("RSA-PSS", "SHA256"), 0x080A: ("RSA-PSS", "SHA384"),
           0x080B: ("RSA-PSS", "SHA512"), 0x0807: ("ED25519", ""), 0x0808: ("ED448", ""),
           0x0401: ("RSA", "SHA256"), 0x0501: ("RSA", "SHA384"), 0x0601: ("RSA", "SHA512")}


@dataclass(slots=True)
class HandshakeFacts:
    #: The key_share group of the (last) ServerHello, if any.
    group: int | None = None
    #: The signature scheme of the server's CertificateVerify (TLS 1.3).
    scheme: int | None = None
    #: The certificates the server sent, DER, its own first.
    chain: list[bytes] = field(default_factory=list)


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 2], "big")


def _u24(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 3], "big")


def server_hello_group(message: bytes) -> int | None:
    """The key_share group of a ServerHello (a HelloRetryRequest names only the group)."""
    pos = 4 + 2 + 32  # header, legacy_version, random
    pos += 1 + message[pos]  # session id
    pos += 2 + 1  # cipher suite, compression
    end = pos + 2 + _u16(message, pos)
    pos += 2
    while pos + 4 <= min(end, len(message)):
        kind, length = _u16(message, pos), _u16(message, pos + 2)
        if kind == _KEY_SHARE and length >= 2:
            return _u16(message, pos + 4)
        pos += 4 + length
    return None


def certificate_chain(message: bytes, tls13: bool) -> list[bytes]:
    """The DER certificates of a Certificate message."""
    pos = 4
    if tls13:
        pos += 1 + message[pos]  # certificate_request_context
    end = pos + 3 + _u24(message, pos)
    pos += 3
    chain = []
    while pos + 3 <= end:
        length = _u24(message, pos)
        chain.append(message[pos + 3:pos + 3 + length])
        pos += 3 + length
        if tls13:
            pos += 2 + _u16(message, pos)  # per-certificate extensions
    if pos != end or end != len(message):
        raise ValueError("bad Certificate message")
    return chain


class HandshakeObserver:
    """An ``SSLContext._msg_callback``: facts per connection, until the connection goes.

    The server's messages are *read* by a client and *written* by a server: smtpd observes
    with ``direction="write"`` to learn what it chose itself."""

    def __init__(self, direction: str = "read") -> None:
        self._direction = direction
        self._facts: weakref.WeakKeyDictionary[Any, HandshakeFacts] = (
            weakref.WeakKeyDictionary())

    def install(self, context: ssl.SSLContext) -> bool:
        """Observe the handshakes of *context*; False when this Python cannot."""
        if not hasattr(context, "_msg_callback"):
            return False
        setattr(context, "_msg_callback", self)  # noqa: B010 (a private hook)
        return True

    def facts(self, connection: object) -> HandshakeFacts | None:
        try:
            return self._facts.get(connection)
        except TypeError:
            return None

    def __call__(self, connection: object, direction: str, version: int, content_type: int,
                 message_type: int, data: bytes) -> None:
        if direction != self._direction or content_type != _HANDSHAKE or not data:
            return
        with contextlib.suppress(ValueError, IndexError, TypeError):
            self._record(connection, int(version), data)

    def _record(self, connection: object, version: int, data: bytes) -> None:
        kind = data[0]
        if kind not in (_SERVER_HELLO, _CERTIFICATE, _CERTIFICATE_VERIFY):
            return
        facts = self._facts.get(connection)
        if facts is None:
            facts = self._facts[connection] = HandshakeFacts()
        if kind == _SERVER_HELLO:
            facts.group = server_hello_group(data)
        elif kind == _CERTIFICATE:
            facts.chain = certificate_chain(data, version == _TLS13)
        else:
            facts.scheme = _u16(data, 4)


def tls13_details(facts: HandshakeFacts | None, chain: Sequence[bytes]) -> str:
    """`` key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256``: what
    Postfix appends to its TLS summary line (and smtpd to Received:) for TLS 1.3; *chain* is
    the server's certificates, its own first."""
    if facts is None:
        return ""
    text = ""
    if facts.group is not None and facts.group in GROUPS:
        text += f" key-exchange {GROUPS[facts.group]}"
    if facts.scheme is None or facts.scheme not in SCHEMES or not chain:
        return text
    signature, digest = SCHEMES[facts.scheme]
    try:
        key = parse_certificate(chain[0])
    except CertificateError:
        return text
    text += f" server-signature {signature}"
    if key.curve:
        text += f" ({key.curve})"
    elif key.key_bits:
        text += f" ({key.key_bits} bits)"
    return text + (f" server-digest {digest}" if digest else "")
