"""Pure rules: rate limits, allowed origins, log redaction."""

from __future__ import annotations

from replyx.diagnostics.logging import redact
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
