"""The metrics endpoint: GET /metrics on a real loopback socket, 404 elsewhere."""

from __future__ import annotations

import asyncio
import socket

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mailrelay.metrics import endpoint
from mailrelay.metrics.endpoint import Render, response, serve
from mailrelay.metrics.registry import Metrics


def render_of_one_connect() -> Render:
    registry = CollectorRegistry()
    Metrics(registry).record("smtpd", "connect from h[192.0.2.1]")
    return lambda: (generate_latest(registry), CONTENT_TYPE_LATEST)


def test_get_metrics_answers_200_with_the_exposition_text() -> None:
    answer, is_head = response("GET /metrics?x=1 HTTP/1.1", render_of_one_connect())
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert b"postfix_smtpd_connects_total 1.0" in body
    assert not is_head


def test_other_paths_are_404_other_methods_405_and_garbage_400() -> None:
    render = render_of_one_connect()
    assert response("GET / HTTP/1.1", render)[0].startswith(b"HTTP/1.1 404 ")
    assert response("POST /metrics HTTP/1.1", render)[0].startswith(b"HTTP/1.1 405 ")
    assert response("hello", render)[0].startswith(b"HTTP/1.1 400 ")


async def fetch(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = await reader.read()
    writer.close()
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_server_answers_each_request_and_stops_when_told() -> None:
    port = free_port()

    async def scenario() -> tuple[bytes, bytes, bytes]:
        stop = asyncio.Event()
        task = asyncio.create_task(serve("127.0.0.1", port, render_of_one_connect(), stop))
        for _ in range(100):  # until it listens
            try:
                got = await fetch(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                break
            except OSError:
                await asyncio.sleep(0.01)
        head = await fetch(port, b"HEAD /metrics HTTP/1.0\r\n\r\n")
        missing = await fetch(port, b"GET /other HTTP/1.1\r\n\r\n")
        stop.set()
        await task
        return got, head, missing

    got, head, missing = asyncio.run(scenario())
    assert got.startswith(b"HTTP/1.1 200 OK") and b"postfix_smtpd_connects_total 1.0" in got
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")
    assert missing.startswith(b"HTTP/1.1 404")
    with socket.socket() as probe:  # nothing listens any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_request_head_longer_than_the_limit_gets_no_answer() -> None:
    port = free_port()

    async def scenario() -> bytes:
        stop = asyncio.Event()
        task = asyncio.create_task(serve("127.0.0.1", port, render_of_one_connect(), stop))
        await asyncio.sleep(0.05)
        got = await fetch(port, b"GET /metrics HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n")
        stop.set()
        await task
        return got

    assert asyncio.run(scenario()) == b""


def test_a_taken_address_is_warned_about_and_bound_once_it_is_free(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoint, "RETRY", 0.05)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    warnings: list[str] = []

    async def scenario() -> bytes:
        stop = asyncio.Event()
        task = asyncio.create_task(endpoint.serve_retrying(
            "127.0.0.1", port, render_of_one_connect(), stop, warnings.append, "x"))
        while not warnings:
            await asyncio.sleep(0.01)
        taken.close()
        for _ in range(200):
            try:
                got = await fetch(port, b"GET /metrics HTTP/1.1\r\n\r\n")
                break
            except OSError:
                await asyncio.sleep(0.01)
        stop.set()
        await task
        return got

    assert asyncio.run(scenario()).startswith(b"HTTP/1.1 200 OK")
    assert warnings[0] == (f"warning: bind 127.0.0.1 port {port}: Address already in use "
                           "(metrics_http_address = x): no metrics; trying again in 0.05s")
