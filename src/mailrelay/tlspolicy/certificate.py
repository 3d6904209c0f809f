"""What the smtp client needs from a server certificate, read from its DER bytes.

Python's ssl module describes a peer certificate only after verifying it; the smtp client
verifies by Postfix's rules itself (see ``mailrelay.delivery.tls``), so it reads the few
fields it needs here: the subjectAltName DNS names and IP addresses, the subject's common
names, and the public key (its DER form for fingerprints, its type and size for the log).

Only the outer structure of X.509 is walked (RFC 5280 section 4.1); nothing is verified here.
A certificate that cannot be read raises :class:`CertificateError`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

_SEQUENCE, _SET, _OID, _OCTETS, _BITS, _INTEGER = 0x30, 0x31, 0x06, 0x04, 0x03, 0x02
_OID_CN = bytes.fromhex("550403")
_OID_SAN = bytes.fromhex("551d11")
_KEY_TYPES = {
    bytes.fromhex("2a864886f70d010101"): "RSA",
    bytes.fromhex("2a864886f70d01010a"): "RSA-PSS",
    bytes.fromhex("2a8648ce3d0201"): "EC",
    bytes.fromhex("2b6570"): "ED25519",
    bytes.fromhex("2b6571"): "ED448",
    bytes.fromhex("2a8648ce380401"): "DSA",
}
#: OpenSSL's short names of the named curves, as Postfix logs them.
_CURVES = {
    bytes.fromhex("2a8648ce3d030107"): "prime256v1",
    bytes.fromhex("2b81040022"): "secp384r1",
    bytes.fromhex("2b81040023"): "secp521r1",
    bytes.fromhex("2b8104000a"): "secp256k1",
    bytes.fromhex("2b2403030208010107"): "brainpoolP256r1",
}
_STRING_CODECS = {0x0C: "utf-8", 0x13: "latin-1", 0x16: "latin-1", 0x14: "latin-1",
                  0x1E: "utf-16-be", 0x1C: "utf-32-be"}


class CertificateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    common_names: tuple[str, ...]
    #: The DER SubjectPublicKeyInfo (what a public-key fingerprint digests).
    public_key: bytes
    #: ``RSA``, ``RSA-PSS``, ``EC``, ``ED25519``, ``ED448``, ``DSA`` or ``""``.
    key_type: str
    #: The modulus size of an RSA key, else 0.
    key_bits: int
    #: The named curve of an EC key (``prime256v1``), else ``""``.
    curve: str

    @property
    def identity_names(self) -> tuple[str, ...]:
        """The names a host name is checked against: the DNS subjectAltNames, or the common
        names when there is no DNS subjectAltName (OpenSSL's X509_check_host(), as Postfix
        uses it)."""
        return self.dns_names if self.dns_names else self.common_names


def _element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at *pos*."""
    if pos + 2 > len(data):
        raise CertificateError("truncated certificate")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateError("bad length in certificate")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CertificateError("truncated certificate")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    pos = start
    while pos < end:
        element = _element(data, pos)
        out.append(element)
        pos = element[2]
    return out


def _expect(element: tuple[int, int, int], tag: int) -> tuple[int, int, int]:
    if element[0] != tag:
        raise CertificateError(f"unexpected DER tag {element[0]:#x} in certificate")
    return element


def _common_names(data: bytes, name: tuple[int, int, int]) -> tuple[str, ...]:
    names = []
    for rdn in _children(data, name[1], name[2]):
        for attribute in _children(data, rdn[1], rdn[2]):
            parts = _children(data, attribute[1], attribute[2])
            if len(parts) != 2 or data[parts[0][1]:parts[0][2]] != _OID_CN:
                continue
            tag, start, end = parts[1]
            codec = _STRING_CODECS.get(tag)
            if codec is None:
                continue
            try:
                text = data[start:end].decode(codec)
            except UnicodeDecodeError:
                continue
            # Postfix's tls_text_name() refuses names with NULs in them.
            if text and "\0" not in text:
                names.append(text)
    return tuple(names)


def _alt_names(data: bytes, extensions: tuple[int, int, int]) -> tuple[list[str], list[str]]:
    dns: list[str] = []
    ips: list[str] = []
    outer = _children(data, extensions[1], extensions[2])
    for extension in _children(data, outer[0][1], outer[0][2]) if outer else []:
        parts = _children(data, extension[1], extension[2])
        if not parts or data[parts[0][1]:parts[0][2]] != _OID_SAN:
            continue
        value = _expect(parts[-1], _OCTETS)
        names = _expect(_element(data, value[1]), _SEQUENCE)
        for tag, start, end in _children(data, names[1], names[2]):
            raw = data[start:end]
            if tag == 0x82:
                text = raw.decode("latin-1")
                if "\0" not in text:
                    dns.append(text)
            elif tag == 0x87 and len(raw) in (4, 16):
                ips.append(str(ipaddress.ip_address(raw)))
    return dns, ips


def _public_key(data: bytes, spki: tuple[int, int, int]) -> tuple[str, int, str]:
    algorithm, key = _children(data, spki[1], spki[2])[:2]
    parts = _children(data, algorithm[1], algorithm[2])
    key_type = _KEY_TYPES.get(data[parts[0][1]:parts[0][2]], "")
    bits, curve = 0, ""
    if key_type == "EC" and len(parts) > 1 and parts[1][0] == _OID:
        curve = _CURVES.get(data[parts[1][1]:parts[1][2]], "")
    elif key_type in ("RSA", "RSA-PSS"):
        _expect(key, _BITS)
        rsa = _expect(_element(data, key[1] + 1), _SEQUENCE)
        modulus = _expect(_children(data, rsa[1], rsa[2])[0], _INTEGER)
        bits = int.from_bytes(data[modulus[1]:modulus[2]], "big").bit_length()
    return key_type, bits, curve


def parse_certificate(der: bytes) -> CertificateInfo:
    """The names and key of a DER certificate; CertificateError when it cannot be read."""
    try:
        certificate = _expect(_element(der, 0), _SEQUENCE)
        tbs = _expect(_children(der, certificate[1], certificate[2])[0], _SEQUENCE)
        fields = _children(der, tbs[1], tbs[2])
        if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
            fields = fields[1:]
        subject = _expect(fields[4], _SEQUENCE)
        spki = _expect(fields[5], _SEQUENCE)
        extensions = next((f for f in fields[6:] if f[0] == 0xA3), None)
        dns, ips = _alt_names(der, extensions) if extensions else ([], [])
        key_type, bits, curve = _public_key(der, spki)
    except (IndexError, ValueError) as e:
        raise CertificateError(f"cannot read certificate: {e}") from None
    return CertificateInfo(tuple(dns), tuple(ips), _common_names(der, subject),
                           der[spki[1] - _header_length(der, spki):spki[2]],
                           key_type, bits, curve)


def _header_length(data: bytes, element: tuple[int, int, int]) -> int:
    """How many bytes the tag and length of *element* take (to slice the whole element)."""
    length = element[2] - element[1]
    if length < 0x80:
        return 2
    return 2 + (length.bit_length() + 7) // 8
