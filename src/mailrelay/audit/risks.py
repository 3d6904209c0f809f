"""The guide's checklist as rules: banner, size limits, SMTP smuggling, TLS with credentials."""

from __future__ import annotations

import re

from mailrelay.audit.finding import Finding, warning
from mailrelay.config.model import Config

_VERSION_REFERENCE = re.compile(r"\$(\{|\()?mail_version\b")
TLS_LEVELS = ("none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure")


def banner_findings(config: Config) -> list[Finding]:
    raw = config.raw("smtpd_banner") or ""
    version = config.get_str("mail_version")
    shown = config.get_str("smtpd_banner")
    if _VERSION_REFERENCE.search(raw) or (version and version in shown):
        return [warning(
            f'smtpd_banner shows the software version to every client: "{shown}"',
            config.origin("smtpd_banner"), "smtpd_banner",
        )]
    return []


def local_delivery_possible(config: Config) -> bool:
    return bool(config.get_list("mydestination"))


def size_limit_findings(config: Config) -> list[Finding]:
    """Postfix's local(8) stops with a fatal error when mailbox_size_limit < message_size_limit.

    The guide's own settings (message_size_limit = 52428800 with the default
    mailbox_size_limit of 51200000) fall into this as soon as mydestination is not empty.
    """
    mailbox = config.get_int("mailbox_size_limit")
    message = config.get_int("message_size_limit")
    if mailbox and (message == 0 or mailbox < message) and local_delivery_possible(config):
        origin = config.origin("message_size_limit")
        if not config.is_explicit("message_size_limit"):
            origin = config.origin("mailbox_size_limit")
        return [warning(
            f"configuration error: mailbox_size_limit ({mailbox}) is smaller than "
            f"message_size_limit ({message}): local delivery to mydestination fails; "
            "raise mailbox_size_limit or set mydestination empty",
            origin, "message_size_limit",
        )]
    return []


def bare_newline_findings(config: Config) -> list[Finding]:
    mode = config.get_str("smtpd_forbid_bare_newline").strip().lower()
    exempt = config.get_list("smtpd_forbid_bare_newline_exclusions")
    if mode in ("no", "") or not exempt:
        return []
    return [warning(
        "smtpd_forbid_bare_newline_exclusions exempts clients from the bare-newline "
        f"protection against SMTP smuggling: {' '.join(exempt)}",
        config.origin("smtpd_forbid_bare_newline_exclusions"),
        "smtpd_forbid_bare_newline_exclusions",
    )]


def effective_tls_level(config: Config) -> tuple[str, str]:
    """(level, parameter that decided it), with the legacy smtp_use_tls / smtp_enforce_tls."""
    level = config.get_str("smtp_tls_security_level").strip().lower()
    if level:
        return level, "smtp_tls_security_level"
    if config.get_bool("smtp_enforce_tls"):
        return "encrypt", "smtp_enforce_tls"
    if config.get_bool("smtp_use_tls"):
        return "may", "smtp_use_tls"
    return "none", "smtp_tls_security_level"


def tls_with_credentials_findings(config: Config, has_credentials: bool) -> list[Finding]:
    """Credentials towards the relayhost must not travel without mandatory TLS."""
    if not has_credentials or config.get_bool("smtp_tls_wrappermode"):
        return []
    level, parameter = effective_tls_level(config)
    if level in TLS_LEVELS and TLS_LEVELS.index(level) >= TLS_LEVELS.index("encrypt"):
        return []
    return [warning(
        f"{parameter} = {level}: TLS is not mandatory towards relayhost "
        f"{config.get_str('relayhost')}, which is given SASL credentials; "
        "set smtp_tls_security_level = encrypt (or verify/secure)",
        config.origin(parameter), parameter,
    )]
