import pytest

from mailrelay.queue import record, statuslog
from mailrelay.queue.record import (
    CorruptQueueFile,
    Envelope,
    QueueFileError,
    Recipient,
    TruncatedQueueFile,
)
from mailrelay.queue.statuslog import RecipientStatus, StatusLog

SAMPLE = Envelope(
    "cron@host.example.com",
    (Recipient("ops@example.com"), Recipient("dba@example.net"), Recipient("x@example.org")),
    1_700_000_000.0,
)

LOG = StatusLog(
    (
        RecipientStatus(0, "ops@example.com", "4.4.1", "delayed", "connect to x: refused"),
        RecipientStatus(1, "dba@example.net", "4.7.0", "delayed", "TLS is required"),
    ),
    warning_sent=True,
)


def test_a_status_log_round_trips():
    assert statuslog.decode_status_log(statuslog.encode_status_log(LOG)) == LOG
    assert statuslog.decode_status_log(statuslog.encode_status_log(StatusLog(()))) == StatusLog(())


def test_a_damaged_or_truncated_status_log_is_detected():
    data = statuslog.encode_status_log(LOG)
    for offset in range(len(data)):
        with pytest.raises(TruncatedQueueFile):
            statuslog.decode_status_log(data[:offset])
        damaged = bytearray(data)
        damaged[offset] ^= 0x01
        with pytest.raises(QueueFileError):
            statuslog.decode_status_log(bytes(damaged))


def test_a_queue_file_is_not_a_status_log():
    with pytest.raises(CorruptQueueFile, match="not a MRQL"):
        statuslog.decode_status_log(record.encode(SAMPLE, b""))


def test_delay_reasons_are_matched_to_recipients_by_index_and_address():
    stale = RecipientStatus(2, "someone@else.example", "4.0.0", "delayed", "stale")
    log = StatusLog((*LOG.entries, stale))
    assert statuslog.delay_reasons(SAMPLE, log) == ("connect to x: refused", "TLS is required", "")
    assert statuslog.delay_reasons(SAMPLE, None) == ("", "", "")
