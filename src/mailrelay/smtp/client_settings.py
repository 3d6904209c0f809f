"""What the SMTP client state machine needs from the configuration, as one frozen value.

Built once per transport from its :class:`~mailrelay.config.model.Config` (main.cf plus the
master.cf ``-o`` settings of the ``smtp`` or ``relay`` service) by
:meth:`ClientSettings.from_config`.  These are the ``smtp_*`` parameters Postfix's smtp(8)
reads for the protocol itself; routing, TLS policy and SASL credentials belong to the
delivery agent.  The time limits are here too, one per :class:`Stage`, for the shell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mailrelay.mail.mime8bit import MimeLimits
from mailrelay.smtp.client_outcome import Stage
from mailrelay.smtp.settings import ConfigReader

#: The time limit of each stage (Postfix's xfer_timeouts and smtp_helo()'s).
TIMEOUT_PARAMETERS: Mapping[Stage, str] = MappingProxyType({
    Stage.CONNECT: "smtp_connect_timeout",
    Stage.GREETING: "smtp_helo_timeout",
    Stage.EHLO: "smtp_helo_timeout",
    Stage.HELO: "smtp_helo_timeout",
    Stage.AUTH: "smtp_helo_timeout",
    Stage.STARTTLS: "smtp_starttls_timeout",
    Stage.TLS: "smtp_starttls_timeout",
    Stage.MAIL: "smtp_mail_timeout",
    Stage.RCPT: "smtp_rcpt_timeout",
    Stage.DATA: "smtp_data_init_timeout",
    Stage.CONTENT: "smtp_data_xfer_timeout",
    Stage.DOT: "smtp_data_done_timeout",
    Stage.ABORT: "smtp_rset_timeout",
    Stage.RSET: "smtp_rset_timeout",
    Stage.QUIT: "smtp_quit_timeout",
})


@dataclass(frozen=True, slots=True)
class ClientSettings:
    helo_name: str = "localhost"
    #: myhostname: a server that answers EHLO with it is this very system (a mail loop).
    myhostname: str = ""
    always_send_ehlo: bool = True
    never_send_ehlo: bool = False
    skip_5xx_greeting: bool = True
    skip_quit_response: bool = True
    quote_rfc821_envelope: bool = True
    #: smtp_line_length_limit: longer content lines are folded (0: never).
    content_line_limit: int = 998
    #: line_length_limit: how much of a server reply line, and of a reply, is kept.
    reply_line_limit: int = 2048
    discard_ehlo_keywords: tuple[str, ...] = ()
    send_dummy_mail_auth: bool = False
    sasl_enabled: bool = False
    #: smtp_sasl_auth_soft_bounce: a 5xx answer to AUTH only defers.
    sasl_auth_soft_bounce: bool = True
    disable_mime_output_conversion: bool = False
    mime_limits: MimeLimits = field(default_factory=MimeLimits)
    #: Seconds, per stage.
    timeouts: Mapping[Stage, int] = field(default_factory=dict)

    def timeout(self, stage: Stage) -> int:
        return self.timeouts.get(stage, 300)

    @classmethod
    def from_config(cls, config: ConfigReader) -> ClientSettings:
        return cls(
            helo_name=config.get_str("smtp_helo_name"),
            myhostname=config.get_str("myhostname"),
            always_send_ehlo=config.get_bool("smtp_always_send_ehlo"),
            never_send_ehlo=config.get_bool("smtp_never_send_ehlo"),
            skip_5xx_greeting=config.get_bool("smtp_skip_5xx_greeting"),
            skip_quit_response=config.get_bool("smtp_skip_quit_response"),
            quote_rfc821_envelope=config.get_bool("smtp_quote_rfc821_envelope"),
            content_line_limit=config.get_int("smtp_line_length_limit"),
            reply_line_limit=config.get_int("line_length_limit"),
            discard_ehlo_keywords=tuple(config.get_list("smtp_discard_ehlo_keywords")),
            send_dummy_mail_auth=config.get_bool("smtp_send_dummy_mail_auth"),
            sasl_enabled=config.get_bool("smtp_sasl_auth_enable"),
            sasl_auth_soft_bounce=config.get_bool("smtp_sasl_auth_soft_bounce"),
            disable_mime_output_conversion=config.get_bool("disable_mime_output_conversion"),
            mime_limits=MimeLimits(
                header_size_limit=config.get_int("header_size_limit"),
                boundary_length_limit=config.get_int("mime_boundary_length_limit"),
                nesting_limit=config.get_int("mime_nesting_limit"),
            ),
            timeouts=MappingProxyType(
                {stage: config.get_time(name) for stage, name in TIMEOUT_PARAMETERS.items()}),
        )
