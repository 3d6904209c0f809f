from __future__ import annotations

import base64

import pytest

from mailrelay.sasl.mechanisms import (
    Login,
    Plain,
    SaslError,
    client_mechanism,
    decode_challenge,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_plain_sends_everything_in_the_initial_response_without_authzid():
    # Postfix (Cyrus SASL) sent exactly this for user@corp.local / "s3cr=t pass".
    plain = Plain("user@corp.local", "s3cr=t pass")
    assert plain.initial_response() == "AHVzZXJAY29ycC5sb2NhbABzM2NyPXQgcGFzcw=="


def test_plain_answers_an_empty_challenge_with_the_response_and_refuses_others():
    plain = Plain("u", "p")
    assert plain.step("") == plain.initial_response()
    with pytest.raises(SaslError):
        plain.step(b64("what?"))


def test_login_sends_user_then_password_whatever_the_challenges_say():
    login = Login("user@corp.local", "s3cr=t pass")
    assert login.initial_response() is None
    assert login.step("VXNlcm5hbWU6") == "dXNlckBjb3JwLmxvY2Fs"
    assert login.step("UGFzc3dvcmQ6") == "czNjcj10IHBhc3M="
    with pytest.raises(SaslError):
        login.step("")


def test_a_challenge_that_is_not_base64_ends_the_exchange():
    with pytest.raises(SaslError):
        decode_challenge("not base64!")
    assert decode_challenge(" VXNlcm5hbWU6 ") == b"Username:"


def test_mechanisms_are_found_by_name_in_any_case():
    assert client_mechanism("plain", "u", "p").name == "PLAIN"
    assert client_mechanism("LOGIN", "u", "p").name == "LOGIN"
    with pytest.raises(KeyError):
        client_mechanism("CRAM-MD5", "u", "p")


def test_the_password_never_shows_in_a_repr():
    assert "hunter2" not in repr(Plain("u", "hunter2"))
    assert "hunter2" not in repr(Login("u", "hunter2"))


def test_utf8_credentials_are_sent_as_utf8():
    assert base64.b64decode(Plain("jörg", "pässwort").initial_response() or "") == (
        "\0jörg\0pässwort".encode())
