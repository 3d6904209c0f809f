"""Client SASL mechanisms as challenge/response steps (pure): PLAIN and LOGIN.

A mechanism is a small object with a name, an optional initial response and a ``step()``
that answers one server challenge.  Everything here works on **base64 text**, the form SMTP
AUTH carries (RFC 4954): the initial response goes on the ``AUTH`` line, challenges come in
334 replies, and each answer is one line.  The caller only moves strings between the SMTP
client and the mechanism.

What goes over the wire is what Postfix's smtp(8) with Cyrus SASL sends (checked against
Postfix 3.7, ``tests/golden/smtp_client/``):

* PLAIN (RFC 4616): ``AUTH PLAIN base64("" NUL user NUL password)`` -- no authorization
  identity, everything in the initial response;
* LOGIN: ``AUTH LOGIN``, then the user name in answer to the first challenge and the
  password in answer to the second, whatever the challenges say (they are informational:
  ``Username:``, ``Password:``).

The password never appears in an exception or a ``repr()``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Protocol


class SaslError(ValueError):
    """The exchange cannot go on (a malformed challenge, too many steps)."""


class ClientMechanism(Protocol):
    name: str

    def initial_response(self) -> str | None:
        """The base64 initial response for the AUTH line, or None to wait for a challenge."""

    def step(self, challenge: str) -> str:
        """The base64 answer to a base64 *challenge*; SaslError when there is none."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_challenge(challenge: str) -> bytes:
    """A 334 reply's text as bytes; SaslError when it is not base64."""
    try:
        return base64.b64decode(challenge.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SaslError("malformed SASL challenge from server") from None


@dataclass(slots=True)
class Plain:
    """RFC 4616 PLAIN: everything in the initial response."""

    username: str
    password: str = field(repr=False)
    #: The authorization identity; Postfix sends none.
    authzid: str = ""
    name: str = "PLAIN"

    def initial_response(self) -> str | None:
        message = f"{self.authzid}\0{self.username}\0{self.password}"
        return _b64(message.encode("utf-8"))

    def step(self, challenge: str) -> str:
        # The whole exchange is the initial response; a server that asks for more after an
        # empty challenge gets it again (RFC 4954: the client then sends the response).
        if decode_challenge(challenge):
            raise SaslError("unexpected PLAIN challenge from server")
        response = self.initial_response()
        assert response is not None
        return response


@dataclass(slots=True)
class Login:
    """The LOGIN mechanism: user name, then password, one per challenge."""

    username: str
    password: str = field(repr=False)
    name: str = "LOGIN"
    _answers: int = 0

    def initial_response(self) -> str | None:
        return None

    def step(self, challenge: str) -> str:
        decode_challenge(challenge)
        self._answers += 1
        if self._answers == 1:
            return _b64(self.username.encode("utf-8"))
        if self._answers == 2:
            return _b64(self.password.encode("utf-8"))
        raise SaslError("too many LOGIN challenges from server")


#: The mechanisms this client implements, by their SASL name.
MECHANISMS = {"PLAIN": Plain, "LOGIN": Login}


def client_mechanism(name: str, username: str, password: str) -> ClientMechanism:
    """The mechanism called *name* (case-insensitive); KeyError when not implemented."""
    factory = MECHANISMS[name.upper()]
    mechanism: ClientMechanism = factory(username, password)
    return mechanism
