"""Postfix's TLS protocol lists and cipher grades, as the smtp client applies them.

A protocol list (``smtp_tls_protocols``, ``smtp_tls_mandatory_protocols`` or a policy table's
``protocols=`` attribute) is a list of names separated by white space, commas or colons:
``>=TLSv1.2`` and ``<=TLSv1.3`` set bounds (a name or a hexadecimal version, ``0x0303``),
``!TLSv1`` excludes a version and a bare name includes one (listing inclusions excludes every
other known version).  Names are compared without regard to case, as Postfix's name_code().

OpenSSL then negotiates within one *contiguous* range: walking down from the highest enabled
version, a disabled version is a hole and an enabled version below a hole starts the range
again, so the lowest run of enabled versions wins -- ``!SSLv2, !SSLv3, !TLSv1.1`` leaves only
TLSv1, as postconf(5) warns.  SSLv2 and SSLv3 are never available (OpenSSL 3 has no code for
them), so they are always holes.

A cipher grade (``export``, ``low``, ``medium``, ``high``, ``null``) names the OpenSSL cipher
list in ``tls_<grade>_cipherlist``; exclusions are appended as ``:!name`` (TLS 1.2 and below:
TLS 1.3's suites are OpenSSL's own, as in Postfix).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: Every protocol name Postfix knows, oldest first, with its wire version.
_VERSIONS = {"SSLv2": 0x0002, "SSLv3": 0x0300, "TLSv1": 0x0301, "TLSv1.1": 0x0302,
             "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
#: The versions an OpenSSL 3 client can speak, oldest first.
SUPPORTED = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_BY_FOLDED = {name.lower(): name for name in _VERSIONS}
_SEPARATORS = re.compile(r"[\s,:]+")

GRADES = ("export", "low", "medium", "high", "null")


class ProtocolError(ValueError):
    """A protocol list Postfix refuses (it then aborts the TLS session)."""


class CipherError(ValueError):
    """A cipher grade or exclusion Postfix refuses (it then aborts the TLS session)."""


@dataclass(frozen=True, slots=True)
class ProtocolRange:
    """The versions a client may negotiate: protocol names from :data:`SUPPORTED`."""

    minimum: str
    maximum: str


def _name(token: str, text: str) -> str:
    name = _BY_FOLDED.get(token.lower())
    if name is None:
        raise ProtocolError(f'Invalid TLS protocol list "{text}": aborting TLS session')
    return name


def _bound(token: str, text: str) -> int | None:
    """A ``>=``/``<=`` bound as a wire version; None for a version OpenSSL does not know
    (Postfix then leaves that bound unset, with a warning)."""
    name = _BY_FOLDED.get(token.lower())
    if name is not None:
        return _VERSIONS[name]
    digits = token[2:] if token.lower().startswith("0x") else token
    if not digits or not re.fullmatch(r"[0-9a-fA-F]+", digits) or int(digits, 16) > 0xFFFF:
        raise ProtocolError(f'Invalid TLS protocol list "{text}": aborting TLS session')
    number = int(digits, 16)
    return number if number in _VERSIONS.values() else None


def protocol_range(text: str) -> ProtocolRange:
    """The contiguous range OpenSSL negotiates for a Postfix protocol list (empty: all)."""
    floor: int | None = None
    ceiling: int | None = None
    included: set[str] = set()
    excluded: set[str] = set()
    for token in _SEPARATORS.split(text.strip()):
        if not token:
            continue
        if token.startswith(">="):
            floor = _bound(token[2:], text)
        elif token.startswith("<="):
            ceiling = _bound(token[2:], text)
        elif token.startswith("!"):
            excluded.add(_name(token[1:], text))
        else:
            included.add(_name(token, text))
    if included:
        excluded |= set(_VERSIONS) - included
    enabled = [v for v in SUPPORTED if v not in excluded
               and (floor is None or _VERSIONS[v] >= floor)
               and (ceiling is None or _VERSIONS[v] <= ceiling)]
    if not enabled:
        raise ProtocolError(f'no TLS protocol left in "{text}"')
    # The lowest run of consecutive enabled versions (see the module's docstring).
    first = SUPPORTED.index(enabled[0])
    last = first
    while last + 1 < len(SUPPORTED) and SUPPORTED[last + 1] in enabled:
        last += 1
    return ProtocolRange(SUPPORTED[first], SUPPORTED[last])


def cipher_list(grade: str, exclusions: str, cipherlists: Mapping[str, str]) -> str:
    """The OpenSSL cipher string of a grade, less the exclusions (white space, commas or
    colons between them; ``kEDH+aRSA`` excludes ciphers having all those properties).

    *cipherlists* maps each grade to its ``tls_<grade>_cipherlist`` value.
    """
    folded = grade.strip().lower()
    if folded not in GRADES:
        raise CipherError(f'invalid cipher grade: "{grade}"')
    result = cipherlists[folded]
    for token in _SEPARATORS.split(exclusions.strip()):
        if not token:
            continue
        if token[0] in "!+-@":
            raise CipherError(f"invalid unary '!+-@' in cipher exclusion: \"{token}\"")
        result += f":!{token}"
    return result
