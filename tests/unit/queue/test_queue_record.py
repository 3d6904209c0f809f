import math
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrelay.queue import record
from mailrelay.queue.record import (
    Client,
    CorruptQueueFile,
    Envelope,
    Notify,
    QueueFile,
    QueueFileError,
    Recipient,
    TruncatedQueueFile,
    UnsupportedQueueFileVersion,
)

SAMPLE = Envelope(
    sender="cron@host.example.com",
    recipients=(
        Recipient("ops@example.com", "rfc822;ops@example.com", Notify.FAILURE | Notify.DELAY),
        Recipient("dba@example.net", original="root@host.example.com"),
        Recipient("done@example.org", done=True),
    ),
    arrival_time=1_700_000_000.123456,
    client=Client("host.example.com", "192.0.2.7", "51234", "host", "ESMTPSA", "PLAIN", "cron"),
    dsn_ret="HDRS",
    dsn_envid="QQ314159",
    body_type="8BITMIME",
    smtputf8=True,
    attributes=(("rewrite_context", "remote"), ("empty", "")),
)
CONTENT = (
    b"Received: from host.example.com (host.example.com [192.0.2.7])\r\n"
    b"Subject: nightly backup\r\nFrom: cron@host.example.com\r\n\r\n"
    b"backup finished\r\n.. a dot-stuffed line stays as received\r\n"
)


def test_a_queue_file_round_trips():
    data = record.encode(SAMPLE, CONTENT)
    assert data.startswith(b"MRQF\x00\x01\x00\x00M")
    assert record.decode(data) == QueueFile(SAMPLE, CONTENT)


def test_the_envelope_is_read_without_the_content():
    data = record.encode(SAMPLE, CONTENT)
    span = record.decode_head(data[: record.CONTENT_OFFSET], len(data))
    assert (span.offset, span.length) == (record.CONTENT_OFFSET, len(CONTENT))
    decoded = record.decode_trailer(data[span.end :], span)
    assert decoded.envelope == SAMPLE
    assert [data[o : o + 1] for o in decoded.recipient_offsets] == [b"R", b"R", b"D"]
    record.check_content(zlib.crc32(CONTENT), span, decoded.content_crc)
    with pytest.raises(CorruptQueueFile):
        record.check_content(zlib.crc32(CONTENT + b"x"), span, decoded.content_crc)


def test_streamed_writing_gives_the_same_bytes_as_one_piece():
    crc = zlib.crc32(CONTENT[10:], zlib.crc32(CONTENT[:10]))
    streamed = (
        record.content_header(len(CONTENT)) + CONTENT + record.trailer(SAMPLE, len(CONTENT), crc)
    )
    assert streamed == record.encode(SAMPLE, CONTENT)


def test_a_done_mark_written_in_place_keeps_the_file_valid():
    data = bytearray(record.encode(SAMPLE, CONTENT))
    span = record.decode_head(bytes(data[: record.CONTENT_OFFSET]), len(data))
    offsets = record.decode_trailer(bytes(data[span.end :]), span).recipient_offsets
    data[offsets[0]] = ord("D")
    decoded = record.decode(bytes(data))
    assert [r.done for r in decoded.envelope.recipients] == [True, False, True]


def test_every_truncation_is_detected_as_such():
    data = record.encode(SAMPLE, CONTENT)
    for length in range(len(data)):
        with pytest.raises(TruncatedQueueFile):
            record.decode(data[:length])


@pytest.mark.parametrize("mask", [0x01, 0x10, 0x80, 0xFF])
def test_every_damaged_byte_is_detected(mask):
    data = record.encode(SAMPLE, CONTENT)
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= mask
        with pytest.raises(QueueFileError):
            record.decode(bytes(damaged))


def test_data_after_the_end_record_is_corruption():
    with pytest.raises(CorruptQueueFile, match="after the END"):
        record.decode(record.encode(SAMPLE, CONTENT) + b"\0")


def test_another_format_version_is_reported_as_such():
    data = bytearray(record.encode(SAMPLE, CONTENT))
    struct.pack_into(">H", data, 4, 2)
    with pytest.raises(UnsupportedQueueFileVersion, match="version 2"):
        record.decode(bytes(data))


def test_errors_say_where_the_file_went_wrong():
    data = bytearray(record.encode(SAMPLE, CONTENT))
    data[-3] ^= 1  # inside the END record's checksum
    with pytest.raises(CorruptQueueFile) as info:
        record.decode(bytes(data))
    assert info.value.offset == len(data) - 9


def test_records_out_of_order_are_corruption():
    body = record.frame(b"S", b"a") + record.frame(b"T", struct.pack(">d", 1.0))
    data = record.content_header(0) + struct.pack(">I", record.content_record_crc(0, 0))
    with pytest.raises(CorruptQueueFile, match="out of order"):
        record.decode(data + body + record.frame(b"E", b""))


def test_an_undecodable_address_survives_the_round_trip():
    address = b"us\xe9r@example.com".decode("utf-8", "surrogateescape")
    env = Envelope(address, (Recipient(address),), 0.0)
    assert record.decode(record.encode(env, b"")).envelope == env


@pytest.mark.parametrize(
    "bad",
    [
        Envelope("a", (), math.inf),
        Envelope("a", (), 0.0, dsn_ret="ALL"),
        Envelope("a", (), 0.0, attributes=(("client_name", "x"),)),
        Envelope("a", (), 0.0, attributes=(("", "x"),)),
        Envelope("\ud800", (), 0.0),
    ],
)
def test_envelopes_that_cannot_be_stored_are_refused(bad):
    with pytest.raises(ValueError):
        record.encode(bad, b"")


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
recipients = st.builds(
    Recipient,
    address=texts,
    orcpt=texts,
    notify=st.integers(0, 15).map(Notify),
    original=texts,
    done=st.booleans(),
)
envelopes = st.builds(
    Envelope,
    sender=texts,
    recipients=st.lists(recipients, max_size=5).map(tuple),
    arrival_time=st.floats(allow_nan=False, allow_infinity=False),
    client=st.builds(Client, texts, texts, texts, texts, texts, texts, texts),
    dsn_ret=st.sampled_from(["", "FULL", "HDRS"]),
    dsn_envid=texts,
    body_type=st.sampled_from(["", "7BIT", "8BITMIME"]),
    smtputf8=st.booleans(),
    attributes=st.lists(
        st.tuples(texts.filter(lambda k: k and k not in record._RESERVED_ATTRS), texts),
        max_size=3,
    ).map(tuple),
)


@given(envelopes, st.binary(max_size=2000))
def test_any_envelope_and_content_round_trip(envelope, content):
    assert record.decode(record.encode(envelope, content)) == QueueFile(envelope, content)
