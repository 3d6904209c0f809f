"""Server certificate name and fingerprint matching, as Postfix 3.7's smtp client does it.

Theory of operation.  Postfix turns each ``match`` pattern of a ``verify`` or ``secure``
policy (``smtp_tls_verify_cert_match``, ``smtp_tls_secure_cert_match``, or the policy
table's ``match=a:b``) into a *reference identity* and lets OpenSSL's X509_check_host() /
X509_check_ip() compare it with the certificate:

* ``hostname`` -- the server's host name (from MX lookup, or the nexthop when it was in
  brackets); ``nexthop`` -- the nexthop domain, without brackets or port; ``dot-nexthop`` --
  ``.nexthop``; anything else is taken literally (``example.com``, ``.example.com``);
  keywords are case-insensitive;
* a reference identity that is an IP address is compared with the certificate's iPAddress
  subjectAltNames; only one IP identity can be set, and when there is one *and* host
  identities, both must match (OpenSSL checks hosts and the IP address separately) --
  captured from Postfix: ``match=127.0.0.1:localhost`` fails with "IP address mismatch"
  against a certificate for ``localhost``;
* a host identity matches any of the certificate's DNS subjectAltNames, or its common names
  when it has no DNS subjectAltName (:attr:`CertificateInfo.identity_names`); case is
  ignored; ``.example.com`` matches any name below example.com (``a.b.example.com`` and
  ``*.example.com`` too) but not ``example.com`` itself;
* a certificate wildcard matches only as a whole leftmost label (``*.example.com``, never
  ``f*.example.com``), only one label (``a.example.com``, not ``a.b.example.com``: Postfix
  3.7 leaves ``tls_wildcard_matches_multiple_labels`` to OpenSSL, which does not), and only
  with at least two labels after it (``*.localhost`` is compared literally).

A ``fingerprint`` policy lists certificate or public-key digests (``AB:CD:...`` or plain
hex, any case); Postfix compares them with both the certificate's and its public key's digest.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

_HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(?::?[0-9A-Fa-f]{2})*")
_LDH = re.compile(r"[A-Za-z0-9-]*")


def bare_nexthop(nexthop: str) -> str:
    """The nexthop domain used for name checks: no ``[]``, no ``:port``, no ``ipv6:``."""
    text = nexthop.strip()
    if text.startswith("["):
        close = text.find("]")
        host = text[1:close] if close > 0 else text[1:]
        return host[5:] if host.lower().startswith("ipv6:") else host
    host, colon, port = text.rpartition(":")
    return host if colon and host and ":" not in host and port.isalnum() else text


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def reference_identities(patterns: Sequence[str], hostname: str,
                         nexthop: str) -> tuple[tuple[str, ...], str | None]:
    """(host identities, the IP identity or None) of the match patterns."""
    hosts: list[str] = []
    address: str | None = None
    for pattern in patterns:
        keyword = pattern.lower()
        if keyword == "hostname":
            name = hostname
        elif keyword == "nexthop":
            name = bare_nexthop(nexthop)
        elif keyword == "dot-nexthop":
            name = "." + bare_nexthop(nexthop)
        else:
            name = pattern
        if not name or name == ".":
            continue
        ip = _ip(name)
        if ip is None:
            hosts.append(name)
        elif address is None:
            address = ip
    return tuple(hosts), address


def _valid_star(name: str) -> int | None:
    """The position of the wildcard of a certificate name, if it is one OpenSSL honours
    (with Postfix's X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)."""
    labels = name.split(".")
    if "*" in name[1:] or labels[0] != "*" or len(labels) < 3:
        return None
    for label in labels[1:]:
        if not label or not _LDH.fullmatch(label) or label[0] == "-" or label[-1] == "-":
            return None
    return 0


def name_matches(certificate_name: str, reference: str) -> bool:
    """One certificate name against one host reference identity (OpenSSL's rules)."""
    if not certificate_name or "\0" in certificate_name:
        return False
    cert = certificate_name.lower()
    ref = reference.lower()
    if len(ref) > 1 and ref[0] == ".":
        # A sub-domain reference: compare the tail of the certificate name, whatever the
        # labels before it (even "*").
        return cert.endswith(ref)
    if _valid_star(cert) is None:
        return cert == ref
    suffix = cert[1:]
    head = ref[: len(ref) - len(suffix)]
    if not ref.endswith(suffix) or not head:
        return False
    return head == "*" or re.fullmatch(r"[A-Za-z0-9-]+", head) is not None


def certificate_matches(names: Sequence[str], patterns: Sequence[str], hostname: str,
                        nexthop: str, *, addresses: Sequence[str] = ()) -> bool:
    """Whether a certificate with these identity *names* (DNS subjectAltNames, else common
    names) and iPAddress subjectAltNames *addresses* matches the policy's *patterns*.

    *hostname* is the server's name, *nexthop* the nexthop (brackets and port are ignored).
    """
    return mismatch_code(names, patterns, hostname, nexthop, addresses=addresses) is None


def mismatch_code(names: Sequence[str], patterns: Sequence[str], hostname: str,
                  nexthop: str, *, addresses: Sequence[str] = ()) -> int | None:
    """None on a match, else OpenSSL's error: 62 (host name mismatch) or 64 (IP address
    mismatch).  No reference identity at all matches nothing (62)."""
    hosts, address = reference_identities(patterns, hostname, nexthop)
    if hosts and not any(name_matches(n, h) for h in hosts for n in names):
        return 62
    if address is not None and address not in {_ip(a) for a in addresses}:
        return 64
    return None if hosts or address is not None else 62


def parse_fingerprint(text: str) -> str | None:
    """A fingerprint as upper-case hex without colons; None when it is malformed."""
    if not _HEX_PAIRS.fullmatch(text):
        return None
    return text.replace(":", "").upper()
