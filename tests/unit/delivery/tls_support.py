"""Certificates and loopback TLS servers for the smtp client's TLS tests.

Also used by ``tests/golden/smtp_tls/capture.py``, so that Postfix and mailrelay are shown
the same kinds of certificates.  A certificate is described by a short spec:

``san=DNS:mx.example.com,IP:127.0.0.1 cn=NAME self expired rsa ca=other intermediate``

(``ca=other``: issued by a CA nobody trusts; ``intermediate``: issued by an intermediate CA
of the trusted one, sent along with the certificate; ``self``: self-signed.)
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_NOW = datetime.datetime.now(datetime.UTC)
_DAY = datetime.timedelta(days=1)
#: The loopback ports these tests may listen on.
PORTS = range(3170, 3200)


def _name(common_name: str | None, organization: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    if common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _pem(key: Key, *certs: x509.Certificate) -> bytes:
    out = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return out + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass
class Authority:
    key: Key
    cert: x509.Certificate

    @classmethod
    def create(cls, common_name: str, parent: Authority | None = None) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name, "mailrelay tests")
        cert = (x509.CertificateBuilder().subject_name(name)
                .issuer_name(parent.cert.subject if parent else name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(_NOW - _DAY).not_valid_after(_NOW + 3650 * _DAY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(parent.key if parent else key, hashes.SHA256()))
        return cls(key, cert)


class Pki:
    """A trusted root, an intermediate below it, and a root nobody trusts, in *directory*."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.trusted = Authority.create("Trusted Test CA")
        self.intermediate = Authority.create("Intermediate Test CA", self.trusted)
        self.other = Authority.create("Other Test CA")
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.trusted.cert.public_bytes(serialization.Encoding.PEM))
        self._count = 0

    def issue(self, spec: str) -> tuple[Path, x509.Certificate]:
        """A PEM file with key, certificate and chain, and the certificate, for *spec*."""
        options = dict(([*w.split("=", 1), ""])[:2] for w in spec.split())
        key: Key = (rsa.generate_private_key(65537, 2048) if "rsa" in options
                    else ec.generate_private_key(ec.SECP256R1()))
        issuer = {"other": self.other}.get(options.get("ca", ""), self.trusted)
        if "intermediate" in options:
            issuer = self.intermediate
        subject = _name(options.get("cn") or None, "mailrelay tests leaf")
        expired = "expired" in options
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(subject if "self" in options else issuer.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(_NOW - 10 * _DAY)
                   .not_valid_after(_NOW - _DAY if expired else _NOW + 30 * _DAY))
        names: list[x509.GeneralName] = []
        for item in filter(None, options.get("san", "").split(",")):
            kind, value = item.split(":", 1)
            names.append(x509.DNSName(value) if kind == "DNS"
                         else x509.IPAddress(ipaddress.ip_address(value)))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(key if "self" in options else issuer.key, hashes.SHA256())
        chain = [cert, self.intermediate.cert] if "intermediate" in options else [cert]
        self._count += 1
        path = self.directory / f"server{self._count}.pem"
        path.write_bytes(_pem(key, *chain))
        return path, cert


def fingerprints(cert: x509.Certificate) -> dict[str, str]:
    """The capture files' placeholders for the SHA-256 fingerprints of *cert*: the
    certificate's as ``AB:CD:...``, its public key's as plain lower-case hex."""
    der = cert.public_bytes(serialization.Encoding.DER)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    colons = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    return {"@CERT_SHA256@": colons, "@PKEY_SHA256@": hashlib.sha256(spki).hexdigest()}


def load_cases(path: Path) -> list[dict[str, list[str]]]:
    """The cases of a ``tests/golden/smtp_tls/*.cases`` file: key -> values, in order."""
    cases: list[dict[str, list[str]]] = []
    for block in path.read_text().split("\n\n"):
        case: dict[str, list[str]] = {}
        for line in block.splitlines():
            if line.startswith("#") or ": " not in line:
                continue
            key, value = line.split(": ", 1)
            case.setdefault(key, []).append(value)
        if "case" in case:
            cases.append(case)
    return cases


def server_context(pem: Path, options: dict[str, str] | None = None) -> ssl.SSLContext:
    """A server context like the capture server's (Python's defaults for a server)."""
    options = options or {}
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem)
    if "curve" in options:
        context.set_ecdh_curve(options["curve"])
    if "ciphers" in options:
        context.set_ciphers(options["ciphers"])
    if "maxver" in options:
        context.maximum_version = getattr(ssl.TLSVersion, options["maxver"])
    return context


@asynccontextmanager
async def tls_server(context: ssl.SSLContext) -> AsyncIterator[int]:
    """A TLS server on 127.0.0.1 in the test's own loop; yields its port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, ssl.SSLError):
            await reader.read()
        writer.close()

    server = None
    for port in PORTS:
        try:
            server = await asyncio.start_server(serve, "127.0.0.1", port, ssl=context)
            break
        except OSError:
            continue
    assert server is not None, f"no free port in {PORTS}"
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def tls_connection(port: int, context: ssl.SSLContext) -> AsyncIterator[ssl.SSLObject]:
    """A client connection to *port* with *context*; yields its SSLObject."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                   server_hostname=None)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        yield ssl_object
    finally:
        writer.close()
        with suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
