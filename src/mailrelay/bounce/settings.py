"""The parameters bounce(8) reads, taken from a Config once (not per notice).

The templates are expanded here, once: their text may name any main.cf parameter, and
nothing in it depends on the message.  ``bounce_template_file`` names a file; reading it is
I/O, so the caller (the queue manager's shell) reads it and passes its text in.  Without that
text the built-in templates are used, as Postfix does when the parameter is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailrelay.bounce.template import (
    BUILTIN,
    KINDS,
    Expansion,
    Templates,
    expand_text,
    parse_templates,
)
from mailrelay.config.model import Config


@dataclass(frozen=True, slots=True)
class BounceSettings:
    myhostname: str
    mydomain: str
    myorigin: str
    mail_name: str
    #: Messages larger than this (in octets, as queued) are returned as headers only.
    bounce_size_limit: int
    bounce_notice_recipient: str
    #: 2bounce_notice_recipient (a Python name cannot start with a digit).
    double_bounce_recipient: str
    delay_notice_recipient: str
    #: double_bounce_sender: its address at $myhostname sends the notices to the postmaster.
    double_bounce_sender: str
    #: notify_classes, lower case: "bounce", "2bounce" and "delay" matter here.
    notify_classes: frozenset[str]
    #: The file the templates came from ("" for the built-in ones).
    bounce_template_file: str
    #: Seconds.  Quoted by the delay template; maximal_queue_lifetime gives Will-Retry-Until.
    delay_warning_time: int
    maximal_queue_lifetime: int
    bounce_queue_lifetime: int
    #: With smtputf8_enable every notice is 8-bit (charset utf-8), as Postfix 3.7 writes them.
    smtputf8_enable: bool
    #: The four templates, their text already expanded.
    templates: Templates = field(default=BUILTIN)

    @classmethod
    def from_config(cls, config: Config, template_text: str | None = None) -> BounceSettings:
        """The settings of *config*; *template_text* is bounce_template_file's content.

        Raises `mailrelay.util.diagnostic.Fatal` for a template Postfix refuses (an unknown
        ``$name``, a line that is not ``name = <<EOF``).  The warnings Postfix would log are
        in ``settings.templates.warnings``.
        """
        template_file = config.get_str("bounce_template_file")
        smtputf8 = config.get_bool("smtputf8_enable")
        times = {name: config.get_time(name)
                 for name in ("delay_warning_time", "maximal_queue_lifetime")}
        origin = "[built-in]"
        templates = BUILTIN
        if template_file and template_text is not None:
            origin = template_file
            templates = parse_templates(template_text, template_file)
        expansion = Expansion(lambda name: _lookup(config, name, smtputf8), times, origin)
        warnings = list(templates.warnings)
        expanded = {kind: expand_text(templates.of(kind), expansion, warnings) for kind in KINDS}
        return cls(
            myhostname=config.get_str("myhostname"),
            mydomain=config.get_str("mydomain"),
            myorigin=config.get_str("myorigin"),
            mail_name=config.get_str("mail_name"),
            bounce_size_limit=config.get_int("bounce_size_limit"),
            bounce_notice_recipient=config.get_str("bounce_notice_recipient"),
            double_bounce_recipient=config.get_str("2bounce_notice_recipient"),
            delay_notice_recipient=config.get_str("delay_notice_recipient"),
            double_bounce_sender=config.get_str("double_bounce_sender"),
            notify_classes=frozenset(c.lower() for c in config.get_list("notify_classes")),
            bounce_template_file=template_file,
            delay_warning_time=times["delay_warning_time"],
            maximal_queue_lifetime=times["maximal_queue_lifetime"],
            bounce_queue_lifetime=config.get_time("bounce_queue_lifetime"),
            smtputf8_enable=smtputf8,
            templates=Templates(**expanded, warnings=tuple(warnings)),
        )


def _lookup(config: Config, name: str, smtputf8: bool) -> str | None:
    """A main.cf value for template text; host names in UTF-8 when SMTPUTF8 is on."""
    try:
        value = config.expanded(name)
    except (KeyError, AttributeError):
        return None
    if smtputf8 and name in ("myhostname", "mydomain"):
        return ".".join(_unicode_label(label) for label in value.split("."))
    return value


def _unicode_label(label: str) -> str:
    if not label.lower().startswith("xn--"):
        return label
    try:
        return label.encode("ascii").decode("idna")
    except UnicodeError:
        return label
