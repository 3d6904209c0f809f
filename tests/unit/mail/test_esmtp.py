from __future__ import annotations

import pytest

from mailrelay.mail.esmtp import (
    Body,
    MailParams,
    Notify,
    Orcpt,
    ParamError,
    ParamFailure,
    RcptParams,
    Ret,
    parse_mail_params,
    parse_rcpt_params,
    xtext_decode,
)


def test_xtext_decodes_plus_escapes_and_refuses_bad_ones():
    assert xtext_decode("a+2Bb") == "a+b"
    assert xtext_decode("a+2bb") == "a+b"
    assert xtext_decode("a+2Gb") is None
    assert xtext_decode("a+2") is None


def test_mail_parameters_are_parsed_case_insensitively():
    params = parse_mail_params(
        ["size=10", "body=8bitmime", "SMTPUTF8", "ret=hdrs", "envid=a+2Bb", "AUTH=<>"],
        dsn=True,
        smtputf8=True,
    )
    assert params == MailParams(10, Body.EIGHT_BIT_MIME, True, Ret.HDRS, "a+b", "<>")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["FOO=bar"], ParamError.UNSUPPORTED),
        (["SIZE"], ParamError.UNSUPPORTED),
        (["BODY=BINARYMIME"], ParamError.UNSUPPORTED),
        (["SIZE=x"], ParamError.BAD_SIZE),
        (["SIZE=+1"], ParamError.BAD_SIZE),
        (["SIZE=9223372036854775808"], ParamError.SIZE_OVERFLOW),
        (["RET=FULL", "RET=FULL"], ParamError.BAD_RET),
        (["ENVID="], ParamError.BAD_ENVID),
        (["ENVID=a+0A"], ParamError.BAD_ENVID),
        (["ENVID=a", "ENVID=b"], ParamError.BAD_ENVID),
    ],
)
def test_bad_mail_parameters_name_their_error(args, error):
    failure = parse_mail_params(args, dsn=True, smtputf8=True)
    assert isinstance(failure, ParamFailure)
    assert failure.error is error


def test_a_failed_mail_command_still_tells_the_size_it_parsed():
    failure = parse_mail_params(["SIZE=5", "FOO=bar"], dsn=True, smtputf8=True)
    assert failure == ParamFailure(ParamError.UNSUPPORTED, "FOO=bar", 5)


def test_dsn_parameters_are_refused_when_dsn_is_not_offered():
    for args in (["ENVID=x"], ["RET=FULL"]):
        failure = parse_mail_params(args, dsn=False, smtputf8=True)
        assert isinstance(failure, ParamFailure) and failure.error is ParamError.DSN_DISABLED
    failure = parse_rcpt_params(["NOTIFY=NEVER"], dsn=False)
    assert isinstance(failure, ParamFailure) and failure.error is ParamError.DSN_DISABLED


def test_smtputf8_is_unsupported_when_not_offered():
    failure = parse_mail_params(["SMTPUTF8"], dsn=True, smtputf8=False)
    assert isinstance(failure, ParamFailure) and failure.error is ParamError.UNSUPPORTED


def test_rcpt_parameters():
    params = parse_rcpt_params(["notify=success,delay", "ORCPT=rfc822;a+40b"], dsn=True)
    assert params == RcptParams(frozenset({Notify.SUCCESS, Notify.DELAY}), Orcpt("rfc822", "a@b"))
    assert parse_rcpt_params(["NOTIFY=NEVER"], dsn=True) == RcptParams(frozenset(), None)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["NOTIFY=NEVER,SUCCESS"], ParamError.BAD_NOTIFY),
        (["NOTIFY="], ParamError.BAD_NOTIFY),
        (["NOTIFY=DELAY", "NOTIFY=DELAY"], ParamError.BAD_NOTIFY),
        (["ORCPT=x"], ParamError.BAD_ORCPT),
        (["ORCPT=;x"], ParamError.BAD_ORCPT),
        (["ORCPT=rfc822;+ZZ"], ParamError.BAD_ORCPT),
        (["SIZE=1"], ParamError.UNSUPPORTED),
    ],
)
def test_bad_rcpt_parameters_name_their_error(args, error):
    failure = parse_rcpt_params(args, dsn=True)
    assert isinstance(failure, ParamFailure)
    assert failure.error is error
