"""Verifying a server's certificate chain after the handshake, as Postfix's smtp client does.

SECURITY: reads the CA certificates of smtp_tls_CAfile / smtp_tls_CApath; decides whether a
server certificate is trusted.

Theory of operation.  Postfix completes every TLS handshake (OpenSSL's verify callback
records the verification errors without failing the handshake), then logs what it found --
``certificate verification failed for mx[192.0.2.1]:25: untrusted issuer /O=...`` and
``Untrusted TLS connection established to ...`` -- and defers the mail itself when the
policy needed a verified server.  Python's ssl module cannot do that: with
``CERT_REQUIRED`` an untrusted certificate aborts the handshake, with ``CERT_NONE`` nothing
is verified and the result is not reported.  So the smtp client handshakes with
``CERT_NONE`` and verifies the chain the server sent here, with the same OpenSSL library
Python's ssl module is linked with, through OpenSSL's public X509_STORE API (called with
ctypes): the same trust store semantics (CAfile, hashed CApath), the same error codes and
texts as Postfix.

Like Postfix's callback, :meth:`TrustStore.verify` lets verification go on after an error
and keeps every error with its depth in the chain; the caller picks the one Postfix logs
(the lowest depth, the first at that depth).
"""

from __future__ import annotations

import _ssl
import ctypes
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_P = ctypes.c_void_p
_INT = ctypes.c_int
#: X509_PURPOSE_SSL_SERVER: the chain must be fit for a TLS server.
_PURPOSE_SSL_SERVER = 2
_VerifyCallback = ctypes.CFUNCTYPE(_INT, _INT, _P)


class _LibCrypto:
    """The few libcrypto functions used here, typed (wrong types would corrupt memory)."""

    def __init__(self) -> None:
        # dlsym() on the _ssl extension finds the libcrypto it is linked with.
        lib = ctypes.CDLL(_ssl.__file__)

        def fn(name: str, restype: Any, *argtypes: Any) -> Callable[..., Any]:
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = list(argtypes)
            return function  # type: ignore[no-any-return]

        self.d2i_X509 = fn("d2i_X509", _P, _P, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long)
        self.X509_free = fn("X509_free", None, _P)
        self.X509_get_issuer_name = fn("X509_get_issuer_name", _P, _P)
        self.X509_NAME_oneline = fn("X509_NAME_oneline", ctypes.c_char_p, _P, ctypes.c_char_p,
                                    _INT)
        self.store_new = fn("X509_STORE_new", _P)
        self.store_free = fn("X509_STORE_free", None, _P)
        self.store_load = fn("X509_STORE_load_locations", _INT, _P, ctypes.c_char_p,
                             ctypes.c_char_p)
        self.ctx_new = fn("X509_STORE_CTX_new", _P)
        self.ctx_free = fn("X509_STORE_CTX_free", None, _P)
        self.ctx_init = fn("X509_STORE_CTX_init", _INT, _P, _P, _P, _P)
        self.ctx_set_purpose = fn("X509_STORE_CTX_set_purpose", _INT, _P, _INT)
        self.ctx_set_depth = fn("X509_STORE_CTX_set_depth", None, _P, _INT)
        self.ctx_set_verify_cb = fn("X509_STORE_CTX_set_verify_cb", None, _P, _VerifyCallback)
        self.ctx_get_error = fn("X509_STORE_CTX_get_error", _INT, _P)
        self.ctx_get_error_depth = fn("X509_STORE_CTX_get_error_depth", _INT, _P)
        self.ctx_get_current_cert = fn("X509_STORE_CTX_get_current_cert", _P, _P)
        self.verify_cert = fn("X509_verify_cert", _INT, _P)
        self.error_string = fn("X509_verify_cert_error_string", ctypes.c_char_p, ctypes.c_long)
        self.sk_new_null = fn("OPENSSL_sk_new_null", _P)
        self.sk_push = fn("OPENSSL_sk_push", _INT, _P, _P)
        self.sk_free = fn("OPENSSL_sk_free", None, _P)


@functools.cache
def _lib() -> _LibCrypto:
    return _LibCrypto()


def error_string(code: int) -> str:
    """OpenSSL's text for a verification error code (``hostname mismatch``)."""
    text: bytes = _lib().error_string(code)
    return text.decode("ascii", "replace")


@dataclass(frozen=True, slots=True)
class VerifyError:
    code: int
    depth: int
    #: The issuer of the certificate at that depth, as OpenSSL's X509_NAME_oneline().
    issuer: str


class TrustStore:
    """The CA certificates of the client: an X509_STORE, loaded once."""

    def __init__(self, cafile: str | None, capath: str | None) -> None:
        self._lib = _lib()
        self._store = self._lib.store_new()
        if not self._store:
            raise MemoryError("X509_STORE_new")
        if (cafile or capath) and self._lib.store_load(
                self._store, cafile.encode() if cafile else None,
                capath.encode() if capath else None) != 1:
            self._lib.store_free(self._store)
            self._store = None
            raise OSError(f"cannot load CA certificates from {cafile or capath}")

    def __del__(self) -> None:
        store = getattr(self, "_store", None)
        if store:
            self._lib.store_free(store)

    def verify(self, chain: Sequence[bytes], depth: int) -> list[VerifyError]:
        """Every error in verifying *chain* (DER, the server's certificate first, then the
        certificates it sent to help) for a TLS server, at most *depth* CAs; [] if trusted."""
        lib = self._lib
        certs = [self._load(der) for der in chain]
        untrusted = lib.sk_new_null()
        ctx = lib.ctx_new()
        errors: list[VerifyError] = []

        def record(ok: int, store_ctx: int | None) -> int:
            if not ok:
                current = lib.ctx_get_current_cert(store_ctx)
                errors.append(VerifyError(lib.ctx_get_error(store_ctx),
                                          lib.ctx_get_error_depth(store_ctx),
                                          self._issuer(current) if current else "<unknown>"))
            return 1  # go on: every error is wanted, as in Postfix's callback

        callback = _VerifyCallback(record)
        try:
            if not all(certs) or not untrusted or not ctx:
                return [VerifyError(1, 0, "<unknown>")]
            for cert in certs[1:]:
                lib.sk_push(untrusted, cert)
            if lib.ctx_init(ctx, self._store, certs[0], untrusted) != 1:
                return [VerifyError(1, 0, "<unknown>")]
            lib.ctx_set_purpose(ctx, _PURPOSE_SSL_SERVER)
            lib.ctx_set_depth(ctx, depth)
            lib.ctx_set_verify_cb(ctx, callback)
            if lib.verify_cert(ctx) != 1 and not errors:
                errors.append(VerifyError(lib.ctx_get_error(ctx) or 1, 0, "<unknown>"))
            return errors
        finally:
            if ctx:
                lib.ctx_free(ctx)
            if untrusted:
                lib.sk_free(untrusted)
            for cert in certs:
                if cert:
                    lib.X509_free(cert)

    def _load(self, der: bytes) -> int | None:
        buffer = ctypes.c_char_p(der)
        cert: int | None = self._lib.d2i_X509(None, ctypes.byref(buffer), len(der))
        return cert

    def _issuer(self, cert: int) -> str:
        buffer = ctypes.create_string_buffer(256)
        name = self._lib.X509_get_issuer_name(cert)
        text: bytes | None = self._lib.X509_NAME_oneline(name, buffer, len(buffer))
        return "".join(c if c.isprintable() else "?"
                       for c in (text or b"<unknown>").decode("utf-8", "replace"))
