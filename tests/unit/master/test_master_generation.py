"""A reload builds the whole new configuration before it touches anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrelay.config.locate import ConfigSource
from mailrelay.master.generation import load_and_validate
from mailrelay.queue.store import QueueStore
from mailrelay.util.diagnostic import Fatal

MAIN_CF = """\
queue_directory = {root}/spool
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
local_recipient_maps =
"""


def setup(root: Path, extra: str = "", master_cf: str = "127.0.0.1:2525 inet n - n - - smtpd\n"
          ) -> tuple[ConfigSource, QueueStore]:
    etc = root / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text(MAIN_CF.format(root=root) + extra)
    (etc / "master.cf").write_text(master_cf)
    return ConfigSource(str(etc), embedded=False, explicit=True), QueueStore(root / "spool")


def test_a_good_configuration_yields_its_listeners(tmp_path: Path) -> None:
    source, store = setup(tmp_path, master_cf="127.0.0.1:2525 inet n - n - - smtpd\n"
                                              "127.0.0.1:2587 inet n - n - - smtpd\n")
    generation = load_and_validate(source, store)
    assert [(lst.host, lst.port) for lst in generation.listeners] == [
        ("127.0.0.1", 2525), ("127.0.0.1", 2587)]
    assert generation.config.config_directory == source.directory


def test_a_bad_smtpd_value_is_refused_with_its_file_and_line(tmp_path: Path) -> None:
    source, store = setup(tmp_path, "smtpd_timeout = soon\n")
    with pytest.raises(Fatal) as caught:
        load_and_validate(source, store)
    assert str(caught.value) == (f"{source.directory}/main.cf, line 9: parameter smtpd_timeout: "
                                 "bad time value or unit: soon")


def test_a_bad_value_in_a_services_override_is_refused(tmp_path: Path) -> None:
    source, store = setup(tmp_path, master_cf="127.0.0.1:2525 inet n - n - - smtpd\n"
                                              "  -o smtpd_timeout=soon\n")
    with pytest.raises(Fatal, match="smtpd_timeout"):
        load_and_validate(source, store)


def test_a_missing_tls_certificate_is_refused(tmp_path: Path) -> None:
    source, store = setup(tmp_path, "smtpd_tls_security_level = may\n"
                                    f"smtpd_tls_cert_file = {tmp_path}/missing.pem\n"
                                    f"smtpd_tls_key_file = {tmp_path}/missing.pem\n")
    with pytest.raises(Fatal, match="line 10: cannot load TLS certificate or key"):
        load_and_validate(source, store)


def test_a_missing_lookup_table_of_the_delivery_side_is_refused(tmp_path: Path) -> None:
    source, store = setup(tmp_path, f"transport_maps = regexp:{tmp_path}/nothing\n")
    with pytest.raises(Fatal, match="nothing"):
        load_and_validate(source, store)


def test_a_missing_main_cf_is_refused(tmp_path: Path) -> None:
    source, store = setup(tmp_path)
    Path(source.main_cf).unlink()
    with pytest.raises(Fatal, match=r"main\.cf"):
        load_and_validate(source, store)
