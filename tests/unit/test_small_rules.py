"""Pure rules: rate limits, allowed origins, log redaction and time stamps."""

from __future__ import annotations

import logging

from replyx.diagnostics.logging import RedactingFormatter, redact
from replyx.domain.origins import origin_allowed
from replyx.domain.ratelimit import SlidingWindowLimiter


def test_sliding_window_allows_the_limit_then_refuses_until_it_slides() -> None:
    limiter = SlidingWindowLimiter(window=10)
    assert all(limiter.hit("k", 3, now=t) for t in (0, 1, 2))
    assert not limiter.hit("k", 3, now=3)
    assert limiter.hit("other", 3, now=3)
    assert limiter.hit("k", 3, now=10.5)


def test_origins_match_hosts_subdomains_and_ports() -> None:
    allowed = ["shop.example", "https://app.example:8443", "*.cdn.example"]
    own = ["replyx.example:443"]

    def ok(origin: str | None) -> bool:
        return origin_allowed(origin, allowed_domains=allowed, own_hosts=own)

    assert ok(None)
    assert ok("https://shop.example") and ok("https://www.shop.example")
    assert ok("https://app.example:8443") and not ok("https://app.example")
    assert ok("https://img.cdn.example")
    assert ok("https://replyx.example:443")
    assert not ok("https://evilshop.example") and not ok("https://shop.example.evil") and not ok("null")
    assert origin_allowed("https://anything.example", allowed_domains=[], own_hosts=own)


def test_redaction_hides_every_token_form() -> None:
    line = (
        '"GET /ws/dialogs/1?token=eyJa.eyJb.c&since=2" site_token=abc guest_token=def '
        'Authorization: Bearer xyz {"access_token": "secretvalue"}'
    )
    clean = redact(line)
    for secret in ("eyJa.eyJb.c", "abc", "def", "xyz", "secretvalue"):
        assert secret not in clean
    assert "since=2" in clean and clean.count("***") >= 5


def test_log_time_stamps_read_as_loggings_own_across_seconds() -> None:
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    ours, theirs = RedactingFormatter(fmt), logging.Formatter(fmt)
    for created in (1_800_000_000.0, 1_800_000_000.999, 1_800_000_001.0005, 1_800_000_001.5, 1_799_999_999.25):
        record = logging.LogRecord("replyx.hub", logging.INFO, "", 0, "Push to dialog %s: %d connections", (7, 3), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000)
        assert ours.format(record) == theirs.format(record)
