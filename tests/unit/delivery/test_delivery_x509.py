"""Chain verification with OpenSSL's X509_STORE, as Postfix's verify callback sees it."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from tls_support import Pki

from mailrelay.delivery.x509 import TrustStore, error_string


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def chain(pem: Path) -> list[bytes]:
    return [ssl.PEM_cert_to_DER_cert(f"-----BEGIN CERTIFICATE-----{part}")
            for part in pem.read_text().split("-----BEGIN CERTIFICATE-----")[1:]]


def codes(errors: list) -> list[tuple[int, int]]:  # type: ignore[type-arg]
    return [(e.code, e.depth) for e in errors]


def test_a_chain_to_the_trusted_root_has_no_error(pki: Pki) -> None:
    store = TrustStore(str(pki.ca_file), None)
    assert store.verify(chain(pki.issue("san=DNS:a")[0]), 10) == []
    assert store.verify(chain(pki.issue("san=DNS:a intermediate")[0]), 10) == []


def test_a_missing_intermediate_is_an_untrusted_issuer(pki: Pki) -> None:
    store = TrustStore(str(pki.ca_file), None)
    errors = store.verify(chain(pki.issue("san=DNS:a intermediate")[0])[:1], 10)
    assert codes(errors)[0] == (20, 0)
    assert errors[0].issuer == "/O=mailrelay tests/CN=Intermediate Test CA"


def test_every_error_is_kept_with_its_depth(pki: Pki) -> None:
    store = TrustStore(None, None)
    errors = store.verify(chain(pki.issue("san=DNS:a expired intermediate")[0]), 10)
    # The intermediate's issuer is unknown (depth 1), and the certificate has expired.
    assert (20, 1) in codes(errors) and (10, 0) in codes(errors)
    assert error_string(62) == "hostname mismatch"


def test_self_signed_and_unknown_ca(pki: Pki) -> None:
    store = TrustStore(str(pki.ca_file), None)
    assert codes(store.verify(chain(pki.issue("san=DNS:a self")[0]), 10))[0] == (18, 0)
    other = store.verify(chain(pki.issue("san=DNS:a ca=other")[0]), 10)
    assert codes(other)[0] == (20, 0)
    assert other[0].issuer == "/O=mailrelay tests/CN=Other Test CA"


def test_the_depth_limit(pki: Pki) -> None:
    store = TrustStore(str(pki.ca_file), None)
    assert store.verify(chain(pki.issue("san=DNS:a intermediate")[0]), 0) != []


def test_garbage_is_an_error_not_a_crash(pki: Pki) -> None:
    store = TrustStore(str(pki.ca_file), None)
    assert store.verify([b"not a certificate"], 10) != []
    ca_der = pki.trusted.cert.public_bytes(serialization.Encoding.DER)
    assert store.verify([ca_der, b"\x30\x00"], 10) != []


def test_an_unreadable_ca_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot load CA certificates"):
        TrustStore(str(tmp_path / "missing.pem"), None)
