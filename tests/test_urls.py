"""Credential hiding in stream URLs and log text."""

from __future__ import annotations

import pytest

from streams.urls import redact_text, redact_url, url_port_error, url_secrets


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:pw123@10.1.2.3:554/s1", "rtsp://***@10.1.2.3:554/s1"),
        ("rtsp://admin:se/cret99@127.0.0.1:1/x", "rtsp://***@127.0.0.1:1/x"),
        ("rtsp://admin:se#cret99@127.0.0.1:1/x", "rtsp://***@127.0.0.1:1/x"),
        ("rtsp://admin:se?cret99@127.0.0.1:1/x", "rtsp://***@127.0.0.1:1/x"),
        ("rtsp://admin:a%40b@host/x", "rtsp://***@host/x"),
        ("rtsp://a:b@h:notaport/x", "rtsp://***@h:notaport/x"),
        ("rtsp://127.0.0.1:8554/plaza", "rtsp://127.0.0.1:8554/plaza"),
        ("/data/clip.mp4", "/data/clip.mp4"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("rtsp://admin:se/cret99@127.0.0.1:1/x", "se/cret99"),
        ("rtsp://admin:se#cret99@127.0.0.1:1/x", "se#cret99"),
        ("rtsp://admin:a%40bcd@host/x", "a@bcd"),
    ],
)
def test_url_secrets_found(url, secret):
    assert secret in url_secrets(url)


def test_redact_text_hides_url_and_bare_secret():
    text = "opening 'rtsp://admin:se/cret99@127.0.0.1:1/x' failed; pw se/cret99"

    hidden = redact_text(text, ("se/cret99",))

    assert "se/cret99" not in hidden
    assert "rtsp://***@127.0.0.1:1/x" in hidden


def test_port_error():
    assert url_port_error("rtsp://a:b@h:notaport/x") is not None
    assert url_port_error("rtsp://h:99999/x") is not None
    assert url_port_error("rtsp://a:b/c@h:554/x") is None
    assert url_port_error("rtsp://h/x") is None
