"""The smtpd side of TLS: a server SSLContext built from smtpd_tls_* parameters.

SECURITY: reads the server's private key (smtpd_tls_key_file).

Postfix's protocol lists (``!SSLv2, !SSLv3, !TLSv1, !TLSv1.1`` or ``>=TLSv1.2``) become the
context's minimum and maximum versions; SSLv2/SSLv3 are never offered whatever the list says.

For TLS 1.3 Postfix names the key exchange group and the signature it made (``key-exchange
X25519 server-signature ECDSA (prime256v1) server-digest SHA256``) in its log line and in
Received:; Python's ssl does not tell them, so each server context gets a
:class:`HandshakeObserver` that reads them off the handshake messages smtpd writes.
"""

from __future__ import annotations

import ssl
import warnings

from mailrelay.config.model import Config
from mailrelay.delivery.handshake import HandshakeObserver, tls13_details
from mailrelay.util.diagnostic import Fatal

#: One for every server context: facts are kept per connection, weakly.
_OBSERVER = HandshakeObserver(direction="write")

_VERSIONS = [
    ("TLSv1", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2), ("TLSv1.3", ssl.TLSVersion.TLSv1_3),
]


def protocol_range(items: list[str]) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """(minimum, maximum) TLS version allowed by a Postfix protocol list."""
    names = [n for n, _ in _VERSIONS]
    allowed = set(names)
    included = {i for i in items if not i.startswith(("!", ">", "<"))}
    for item in items:
        if item.startswith("!"):
            allowed.discard(item[1:])
        elif item.startswith(">="):
            allowed &= set(names[names.index(item[2:]):]) if item[2:] in names else allowed
        elif item.startswith("<="):
            allowed &= set(names[: names.index(item[2:]) + 1]) if item[2:] in names else allowed
    if included & allowed:
        allowed &= included
    chosen = [v for n, v in _VERSIONS if n in allowed]
    if not chosen:
        raise ValueError(f"no TLS protocol left in {' '.join(items)}")
    return chosen[0], chosen[-1]


def cipher_list(config: Config, *, mandatory: bool) -> str:
    """The OpenSSL cipher list of smtpd_tls_[mandatory_]ciphers, less the excluded ones.

    It governs TLS 1.2 and below; TLS 1.3's suites are OpenSSL's own, as in Postfix."""
    prefix = "smtpd_tls_mandatory_" if mandatory else "smtpd_tls_"
    grade = config.get_str(prefix + "ciphers").strip().lower()
    if grade not in ("export", "low", "medium", "high", "null"):
        raise Fatal(f'invalid {prefix}ciphers value: "{grade}"', config.origin(prefix + "ciphers"),
                    prefix + "ciphers")
    ciphers = config.get_str(f"tls_{grade}_cipherlist")
    excluded = config.get_list(prefix + "exclude_ciphers")
    return ciphers + "".join(f":!{c}" for c in excluded)


def server_context(config: Config, *, mandatory: bool) -> ssl.SSLContext | None:
    """The context for STARTTLS / wrapper mode, or None when no certificate is configured."""
    cert = config.get_str("smtpd_tls_cert_file").strip()
    chain = config.get_list("smtpd_tls_chain_files")
    if not cert and not chain:
        return None
    key = config.get_str("smtpd_tls_key_file").strip() or cert
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    parameter = "smtpd_tls_mandatory_protocols" if mandatory else "smtpd_tls_protocols"
    try:
        with warnings.catch_warnings():
            # Postfix's default list still allows TLSv1 for opportunistic TLS; Python warns.
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version, ctx.maximum_version = protocol_range(
                config.get_list(parameter))
        ctx.set_ciphers(cipher_list(config, mandatory=mandatory))
        if chain:
            for path in chain:
                ctx.load_cert_chain(path)
        else:
            ctx.load_cert_chain(cert, key)
    except ssl.SSLError as e:
        if "cipher" in str(e).lower():
            what = "smtpd_tls_mandatory_ciphers" if mandatory else "smtpd_tls_ciphers"
            raise Fatal(f"no usable TLS cipher: {e}", config.origin(what), what) from e
        what = "smtpd_tls_chain_files" if chain else "smtpd_tls_cert_file"
        raise Fatal(f"cannot load TLS certificate or key: {e}", config.origin(what), what) from e
    except (OSError, ValueError) as e:
        what = "smtpd_tls_chain_files" if chain else "smtpd_tls_cert_file"
        raise Fatal(f"cannot load TLS certificate or key: {e}", config.origin(what), what) from e
    _OBSERVER.install(ctx)
    return ctx


def handshake_details(ssl_object: ssl.SSLObject) -> str:
    """`` key-exchange X25519 server-signature ... server-digest SHA256`` (TLS 1.3), or ""."""
    facts = _OBSERVER.facts(ssl_object)
    if facts is None or ssl_object.version() != "TLSv1.3":
        return ""
    return tls13_details(facts, facts.chain)


def received_comment(ssl_object: ssl.SSLObject | None) -> tuple[str, ...]:
    """Received:'s ``(using TLSv1.3 with cipher NAME (256/256 bits))`` lines."""
    if ssl_object is None:
        return ()
    cipher = ssl_object.cipher()
    if cipher is None:
        return ()
    name, version, bits = cipher
    using = f"(using {version} with cipher {name} ({bits}/{bits} bits)"
    details = handshake_details(ssl_object)
    # Postfix folds the details onto their own line, inside the same parenthesis.
    lines = (using, f"{details})") if details else (using + ")",)
    return (*lines, "(No client certificate requested)")
