from __future__ import annotations

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.smtp.framing import BareNewline
from mailrelay.smtp.settings import ForbiddenCommands, ServerSettings, TlsLevel


def config(text: str) -> Config:
    return Config(parse_main_cf(text, "/etc/mailrelay/main.cf"), "/etc/mailrelay")


def test_settings_come_from_the_postfix_parameters():
    settings = ServerSettings.from_config(
        config(
            "myhostname = relay.corp.local\n"
            "smtpd_banner = $myhostname ESMTP\n"
            "message_size_limit = 2000\n"
            "smtpd_tls_security_level = encrypt\n"
            "smtpd_discard_ehlo_keywords = CHUNKING, silent-discard\n"
            "smtpd_forbid_bare_newline = reject\n"
            "smtpd_error_sleep_time = 2s\n"
        )
    )
    assert settings.myhostname == "relay.corp.local"
    assert settings.banner == "relay.corp.local ESMTP"
    assert settings.message_size_limit == 2000
    assert settings.tls_level is TlsLevel.ENCRYPT
    assert settings.discards("chunking") and settings.discards("silent-discard")
    assert settings.bare_newline is BareNewline.REJECT
    assert settings.error_sleep_time == 2.0


def test_the_defaults_are_the_safe_ones():
    settings = ServerSettings.from_config(config("myhostname = mx.example\n"))
    assert settings.bare_newline is BareNewline.NORMALIZE
    assert settings.forbid_unauth_pipelining
    assert settings.tls_level is TlsLevel.NONE


def test_legacy_tls_booleans_are_used_when_the_level_is_empty():
    assert (
        ServerSettings.from_config(
            config("myhostname = mx.example\nsmtpd_use_tls = yes\n")
        ).tls_level
        is TlsLevel.MAY
    )
    assert (
        ServerSettings.from_config(
            config("myhostname = mx.example\nsmtpd_enforce_tls = yes\n")
        ).tls_level
        is TlsLevel.ENCRYPT
    )


def test_forbidden_commands_are_words_and_inline_regexps():
    forbidden = ForbiddenCommands.parse(["CONNECT", "get", "regexp:{{/^[^A-Z]/ Bogus}}"])
    assert forbidden.match("connect") and forbidden.match("GET")
    assert forbidden.match("1NOOP") and forbidden.match(".")
    assert not forbidden.match("noop")
    assert ForbiddenCommands().match("POST")
