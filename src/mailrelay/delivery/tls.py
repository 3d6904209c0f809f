"""The smtp client's side of TLS: contexts per policy, Postfix's verdict and log lines.

SECURITY: reads the client's private key (smtp_tls_key_file) and the CA certificates;
decides whether a server is verified enough to receive the mail.

Theory of operation.  Every handshake completes, whatever the certificate (contexts are
``CERT_NONE``, no host name check by Python), as Postfix's do; then the smtp client asks:

* :meth:`TlsClient.check` -- is this connection good enough for the policy?  None, or
  Postfix's reason to defer (``Server certificate not verified``, 4.7.5);
* :meth:`TlsClient.verification_log` -- the lines Postfix logs before the summary when a
  ``fingerprint``/``verify``/``secure`` server fails (``certificate verification failed for
  mx[192.0.2.1]:25: untrusted issuer /CN=...``, ``server certificate verification failed
  for ...: num=62:hostname mismatch``), at any ``smtp_tls_loglevel``;
* :meth:`TlsClient.established` -- the summary line, logged when ``smtp_tls_loglevel`` >= 1
  (``Verified``/``Trusted``/``Untrusted``/``Anonymous TLS connection established to ...``).

The verdict is computed once per connection (call :meth:`TlsClient.check` first: it knows the
nexthop): the chain the server sent is verified against smtp_tls_CAfile
and smtp_tls_CApath by :class:`~mailrelay.delivery.x509.TrustStore` (at ``may`` and
``encrypt`` too when CAs are configured, only to log ``Trusted``), the names by
:func:`~mailrelay.tlspolicy.match.certificate_matches`, fingerprints by digest.  As in
Postfix 3.7 (captured in ``tests/golden/smtp_tls/``): a name mismatch makes the connection
``Untrusted``; of several errors the one at the lowest depth of the chain is logged; the
name check comes after the chain errors and before the validity-date and signature errors
of the same certificate, in OpenSSL's order.
"""

from __future__ import annotations

import hashlib
import ssl
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from mailrelay.config.model import Config
from mailrelay.delivery.handshake import HandshakeObserver, tls13_details
from mailrelay.delivery.x509 import TrustStore, VerifyError, error_string
from mailrelay.tlspolicy.certificate import CertificateError, CertificateInfo, parse_certificate
from mailrelay.tlspolicy.match import mismatch_code
from mailrelay.tlspolicy.policy import Level, TlsPolicy, TlsPolicyError
from mailrelay.tlspolicy.protocols import (
    GRADES,
    CipherError,
    ProtocolError,
    cipher_list,
    protocol_range,
)
from mailrelay.util.diagnostic import Fatal

NOT_VERIFIED = "Server certificate not verified"
HANDSHAKE_FAILURE = "Cannot start TLS: handshake failure"
_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
             "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
#: Errors OpenSSL reports after its host name check (validity dates, signatures).
_LATE_ERRORS = frozenset({4, 6, 7, 8, 9, 10, 11, 12, 13, 14})
_MUST_TRUST = (Level.FINGERPRINT, Level.VERIFY, Level.SECURE)


class TlsSetupError(TlsPolicyError):
    """A policy whose protocols or ciphers OpenSSL cannot use.  Postfix logs
    ``warning: host[addr]:port: <detail>`` and defers with ``str()`` (4.7.5)."""

    def __init__(self, detail: str) -> None:
        super().__init__([], HANDSHAKE_FAILURE)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the client makes of one server certificate."""

    present: bool
    trusted: bool
    #: Matched by name or fingerprint, as the policy wanted (``Verified``).
    matched: bool
    #: The error Postfix logs (code, depth, issuer), if any.
    error: VerifyError | None = None
    warnings: tuple[str, ...] = ()


class TlsClient:
    """TLS for the smtp client of one configuration."""

    def __init__(self, config: Config, store: TrustStore | None) -> None:
        self.loglevel = config.get_int("smtp_tls_loglevel")
        self._store = store
        self._no_ca: TrustStore | None = None
        self._depth = config.get_int("smtp_tls_scert_verifydepth")
        self._digest = config.get_str("smtp_tls_fingerprint_digest").strip().lower()
        self._cipherlists = {g: config.get_str(f"tls_{g}_cipherlist") for g in GRADES}
        self._certificates = _client_certificates(config)
        self._observer = HandshakeObserver()
        self._contexts: dict[tuple[str, str, str], ssl.SSLContext] = {}
        self._verdicts: weakref.WeakKeyDictionary[ssl.SSLObject, tuple[str, str, Verdict]] = (
            weakref.WeakKeyDictionary())

    @classmethod
    def from_config(cls, config: Config) -> TlsClient:
        cafile = config.get_str("smtp_tls_CAfile").strip() or None
        capath = config.get_str("smtp_tls_CApath").strip() or None
        try:
            store = TrustStore(cafile, capath) if cafile or capath else None
        except OSError as e:
            name = "smtp_tls_CAfile" if cafile else "smtp_tls_CApath"
            raise Fatal(str(e), config.origin(name), name) from None
        digest = config.get_str("smtp_tls_fingerprint_digest").strip().lower()
        if digest not in hashlib.algorithms_available:
            raise Fatal(f"unsupported smtp_tls_fingerprint_digest value: {digest}",
                        config.origin("smtp_tls_fingerprint_digest"),
                        "smtp_tls_fingerprint_digest")
        client = cls(config, store)
        client._load_certificates(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), config)
        return client

    # -- contexts --------------------------------------------------------------------------

    def context(self, policy: TlsPolicy) -> ssl.SSLContext:
        """The context for a session under *policy* (shared by every policy with the same
        protocols and ciphers).  TlsSetupError: log its detail and defer."""
        key = (policy.protocols, policy.ciphers, policy.exclude_ciphers)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = self._new_context(policy)
        return context

    def _new_context(self, policy: TlsPolicy) -> ssl.SSLContext:
        try:
            versions = protocol_range(policy.protocols)
            ciphers = cipher_list(policy.ciphers, policy.exclude_ciphers, self._cipherlists)
        except (ProtocolError, CipherError) as e:
            raise TlsSetupError(str(e)) from None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # Postfix's rules decide, after the handshake (see the module's docstring).
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():
            # Python deprecates TLS 1.0 and 1.1; Postfix's default (">=TLSv1") allows them
            # and the administrator decides, as there (OpenSSL's security level still rules).
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = _VERSIONS[versions.minimum]
            context.maximum_version = _VERSIONS[versions.maximum]
        try:
            context.set_ciphers(ciphers)
        except ssl.SSLError:
            raise TlsSetupError(f'invalid cipher list: "{ciphers}"') from None
        for cert, key, _ in self._certificates:
            context.load_cert_chain(cert, key)
        self._observer.install(context)
        return context

    def _load_certificates(self, context: ssl.SSLContext, config: Config) -> None:
        for cert, key, name in self._certificates:
            try:
                context.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as e:
                raise Fatal(f"cannot load client TLS certificate or key: {e}",
                            config.origin(name), name) from None

    # -- the verdict -----------------------------------------------------------------------

    def check(self, ssl_object: ssl.SSLObject, policy: TlsPolicy, hostname: str,
              nexthop: str) -> str | None:
        """None when the connection satisfies *policy*, else Postfix's reason to defer."""
        if policy.level not in _MUST_TRUST:
            return None
        verdict = self.verdict(ssl_object, policy, hostname, nexthop)
        return None if verdict.trusted and verdict.matched else NOT_VERIFIED

    def verdict(self, ssl_object: ssl.SSLObject, policy: TlsPolicy, hostname: str,
                nexthop: str | None = None) -> Verdict:
        """The connection's verdict, computed once per (host name, nexthop); without a
        *nexthop*, the last one computed (else the host name stands for it)."""
        cached = self._verdicts.get(ssl_object)
        if cached is not None and (nexthop is None or cached[:2] == (hostname, nexthop)):
            return cached[2]
        nexthop = hostname if nexthop is None else nexthop
        verdict = self._judge(ssl_object, policy, hostname, nexthop)
        self._verdicts[ssl_object] = (hostname, nexthop, verdict)
        return verdict

    def _chain(self, ssl_object: ssl.SSLObject) -> list[bytes]:
        facts = self._observer.facts(ssl_object)
        if facts is not None and facts.chain:
            return facts.chain
        leaf = ssl_object.getpeercert(binary_form=True)
        return [leaf] if leaf else []

    def _judge(self, ssl_object: ssl.SSLObject, policy: TlsPolicy, hostname: str,
               nexthop: str) -> Verdict:
        chain = self._chain(ssl_object)
        if not chain:
            return Verdict(present=False, trusted=False, matched=False)
        if policy.level is Level.FINGERPRINT:
            return self._fingerprint(chain[0], policy)
        names_checked = policy.level in (Level.VERIFY, Level.SECURE)
        if not names_checked and self._store is None:
            return Verdict(present=True, trusted=False, matched=False)
        errors = self._verify(chain)
        if names_checked:
            code = _name_error(chain[0], policy, hostname, nexthop)
            if code is not None:
                errors = _insert_name_error(errors, VerifyError(code, 0, ""))
        error = min(errors, key=lambda e: e.depth) if errors else None
        return Verdict(True, trusted=not errors, matched=names_checked and not errors,
                       error=error)

    def _verify(self, chain: Sequence[bytes]) -> list[VerifyError]:
        if self._store is None:
            # No CA at all: nothing can be trusted; OpenSSL says so about the first issuer.
            self._no_ca = self._no_ca or TrustStore(None, None)
            return self._no_ca.verify(chain, self._depth + 1)
        return self._store.verify(chain, self._depth + 1)

    def _fingerprint(self, certificate: bytes, policy: TlsPolicy) -> Verdict:
        """Postfix's fingerprint level: a certificate or public-key digest must match."""
        size = hashlib.new(self._digest).digest_size
        usable = [f for f in policy.match if len(f) == 2 * size]
        warnings = [f"unusable TLSA RR: 3 {selector} 255 {f}"
                    for f in policy.match if f not in usable for selector in (1, 0)]
        if not usable:
            warnings.append("all fingerprints unusable")
            return Verdict(True, False, False, VerifyError(1, 0, ""), tuple(warnings))
        try:
            info = parse_certificate(certificate)
        except CertificateError:
            return Verdict(True, False, False, VerifyError(65, 0, ""), tuple(warnings))
        digests = {hashlib.new(self._digest, data).hexdigest().upper()
                   for data in (certificate, info.public_key)}
        if digests & set(usable):
            return Verdict(True, True, True, None, tuple(warnings))
        return Verdict(True, False, False, VerifyError(65, 0, ""), tuple(warnings))

    # -- log lines -------------------------------------------------------------------------

    def verification_log(self, ssl_object: ssl.SSLObject, policy: TlsPolicy, hostname: str,
                         nexthop: str, address: str, port: int) -> list[str]:
        """The lines Postfix logs about a certificate that failed a fingerprint, verify or
        secure policy (before the summary line), ``warning: ``-prefixed where Postfix warns."""
        if policy.level not in _MUST_TRUST:
            return []
        verdict = self.verdict(ssl_object, policy, hostname, nexthop)
        namaddr = f"{hostname}[{address}]:{port}"
        lines = [f"warning: {namaddr}: {w}" for w in verdict.warnings]
        if verdict.error is not None:
            lines.append(_failure_text(verdict.error, namaddr))
        return lines

    def established(self, ssl_object: ssl.SSLObject, policy: TlsPolicy, hostname: str,
                    address: str, port: int) -> str:
        """Postfix's summary: ``Trusted TLS connection established to mx[192.0.2.1]:25:
        TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 ...``.

        The verdict is :meth:`check`'s when it was called first (it knows the nexthop, which
        ``secure`` matches); otherwise the host name stands for the nexthop."""
        verdict = self.verdict(ssl_object, policy, hostname)
        if not verdict.present:
            status = "Anonymous"
        elif verdict.matched and policy.level in _MUST_TRUST:
            status = "Verified"
        else:
            status = "Trusted" if verdict.trusted else "Untrusted"
        version = ssl_object.version() or ""
        name, _, bits = ssl_object.cipher() or ("", "", 0)
        line = (f"{status} TLS connection established to {hostname}[{address}]:{port}: "
                f"{version} with cipher {name} ({bits}/{self._alg_bits(ssl_object, name, bits)}"
                " bits)")
        if version == "TLSv1.3":
            line += tls13_details(self._observer.facts(ssl_object), self._chain(ssl_object))
        return line

    @staticmethod
    def _alg_bits(ssl_object: ssl.SSLObject, name: str, bits: int) -> int:
        for cipher in ssl_object.context.get_ciphers():
            if cipher["name"] == name:
                return int(cipher["alg_bits"])
        return bits


def _client_certificates(config: Config) -> list[tuple[str, str, str]]:
    """(certificate file, key file, parameter) of the client's own certificates, if any."""
    chains = config.get_list("smtp_tls_chain_files")
    if chains:
        return [(path, path, "smtp_tls_chain_files") for path in chains]
    found = []
    for cert, key in (("smtp_tls_cert_file", "smtp_tls_key_file"),
                      ("smtp_tls_eccert_file", "smtp_tls_eckey_file")):
        path = config.get_str(cert).strip()
        if path:
            found.append((path, config.get_str(key).strip() or path, cert))
    return found


def _name_error(certificate: bytes, policy: TlsPolicy, hostname: str,
                nexthop: str) -> int | None:
    try:
        info: CertificateInfo = parse_certificate(certificate)
    except CertificateError:
        return 62
    return mismatch_code(info.identity_names, policy.match, hostname, nexthop,
                         addresses=info.ip_addresses)


def _insert_name_error(errors: list[VerifyError], name_error: VerifyError) -> list[VerifyError]:
    """The errors in OpenSSL's order: the name check follows the chain-building errors and
    precedes the date and signature checks of the server's certificate."""
    position = next((i for i, e in enumerate(errors)
                     if e.depth == 0 and e.code in _LATE_ERRORS), len(errors))
    return [*errors[:position], name_error, *errors[position:]]


def _failure_text(error: VerifyError, namaddr: str) -> str:
    """Postfix's tls_log_verify_error() wording."""
    purpose = "CA" if error.depth > 0 else "server"
    code = error.code
    if code == 27:
        return f"certificate verification failed for {namaddr}: not trusted by local or TLSA " \
               "policy"
    if code in (18, 19):
        return f"certificate verification failed for {namaddr}: self-signed certificate"
    if code in (2, 20):
        return f"certificate verification failed for {namaddr}: untrusted issuer {error.issuer}"
    if code in (9, 13):
        return f"{purpose} certificate verification failed for {namaddr}: certificate not yet " \
               "valid"
    if code in (10, 14):
        return f"{purpose} certificate verification failed for {namaddr}: certificate has " \
               "expired"
    if code == 26:
        return f"certificate verification failed for {namaddr}: not designated for use as a " \
               f"{purpose} certificate"
    if code == 22:
        return f"certificate verification failed for {namaddr}: certificate chain longer " \
               f"than limit({error.depth - 1})"
    return f"{purpose} certificate verification failed for {namaddr}: num={code}:" \
           f"{error_string(code)}"

