"""The parameters bounce reads, with Postfix's defaults."""

from __future__ import annotations

from mailrelay.bounce.settings import BounceSettings
from mailrelay.bounce.template import BUILTIN
from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config


def from_text(text: str, template: str | None = None) -> BounceSettings:
    return BounceSettings.from_config(Config(parse_main_cf(text, "main.cf"), "/etc/x"), template)


def test_postfixs_defaults() -> None:
    s = from_text("myhostname = mx.example.com\ncompatibility_level = 3.6\n")
    assert (s.myhostname, s.mydomain, s.myorigin, s.mail_name) == (
        "mx.example.com", "example.com", "mx.example.com", "Postfix")
    assert (s.bounce_notice_recipient, s.double_bounce_recipient,
            s.delay_notice_recipient, s.double_bounce_sender) == (
        "postmaster", "postmaster", "postmaster", "double-bounce")
    assert s.notify_classes == frozenset({"resource", "software"})
    assert (s.bounce_size_limit, s.delay_warning_time, s.maximal_queue_lifetime,
            s.bounce_queue_lifetime) == (50000, 0, 5 * 86400, 5 * 86400)
    assert s.smtputf8_enable is True
    assert s.bounce_template_file == ""


def test_values_from_main_cf() -> None:
    s = from_text("myhostname = mx.example.com\nnotify_classes = Bounce, 2bounce\n"
                  "2bounce_notice_recipient = pm2@example.com\nbounce_size_limit = 1000\n"
                  "delay_warning_time = 4h\nmaximal_queue_lifetime = 2d\n")
    assert s.notify_classes == frozenset({"bounce", "2bounce"})
    assert s.double_bounce_recipient == "pm2@example.com"
    assert (s.bounce_size_limit, s.delay_warning_time, s.maximal_queue_lifetime) == (
        1000, 4 * 3600, 2 * 86400)
    assert s.templates.delay.text[6] == (
        "Your message could not be delivered for more than 4 hour(s).")
    assert s.templates.delay.text[7] == "It will be retried until it is 2 day(s) old."


def test_a_template_text_is_used_only_when_bounce_template_file_is_set() -> None:
    text = "failure_template = <<EOF\nhello\nEOF\n"
    assert from_text("myhostname = h.example\n", text).templates.failure.text == (
        "This is the mail system at host h.example.", *BUILTIN.failure.text[1:])
    s = from_text("myhostname = h.example\nbounce_template_file = /etc/x/bounce.cf\n", text)
    assert s.templates.failure.text == ("hello",)
    assert s.bounce_template_file == "/etc/x/bounce.cf"
