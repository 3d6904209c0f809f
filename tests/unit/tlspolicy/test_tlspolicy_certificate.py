"""Reading names and keys out of DER certificates (compared with the cryptography package)."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from mailrelay.tlspolicy.certificate import CertificateError, parse_certificate

NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def certificate(key, subject: list[x509.NameAttribute],  # type: ignore[no-untyped-def]
                sans: list[x509.GeneralName] | None = None) -> bytes:
    name = x509.Name(subject)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(7)
               .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1)))
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


def spki(key) -> bytes:  # type: ignore[no-untyped-def]
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def test_names_addresses_and_an_ec_key() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    der = certificate(key, [x509.NameAttribute(NameOID.COMMON_NAME, "cn.example.com")],
                      [x509.DNSName("mx.example.com"), x509.DNSName("*.example.net"),
                       x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
                       x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                       x509.RFC822Name("postmaster@example.com")])
    info = parse_certificate(der)
    assert info.dns_names == ("mx.example.com", "*.example.net")
    assert info.ip_addresses == ("192.0.2.1", "2001:db8::1")
    assert info.common_names == ("cn.example.com",)
    assert info.identity_names == ("mx.example.com", "*.example.net")
    assert (info.key_type, info.curve, info.key_bits) == ("EC", "secp384r1", 0)
    assert info.public_key == spki(key)


def test_common_names_stand_in_for_missing_dns_names() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = certificate(key, [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org"),
                            x509.NameAttribute(NameOID.COMMON_NAME, "a.example.com"),
                            x509.NameAttribute(NameOID.COMMON_NAME, "b.example.com")],
                      [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    info = parse_certificate(der)
    assert info.identity_names == ("a.example.com", "b.example.com")
    assert info.curve == "prime256v1"


def test_rsa_key_size_and_ed25519() -> None:
    key = rsa.generate_private_key(65537, 3072)
    info = parse_certificate(certificate(key, [x509.NameAttribute(NameOID.COMMON_NAME, "r")]))
    assert (info.key_type, info.key_bits) == ("RSA", 3072)
    assert info.public_key == spki(key)
    ed = ed25519.Ed25519PrivateKey.generate()
    info = parse_certificate(certificate(ed, [x509.NameAttribute(NameOID.COMMON_NAME, "e")]))
    assert (info.key_type, info.key_bits, info.curve) == ("ED25519", 0, "")


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01", b"\x30\x82\xff\xff" + b"\0" * 10,
                                 b"\x04\x00"])
def test_garbage_is_refused(der: bytes) -> None:
    with pytest.raises(CertificateError):
        parse_certificate(der)
