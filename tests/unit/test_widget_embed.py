"""The chat iframe's Content-Security-Policy, built from an assistant's allowed domains."""

from __future__ import annotations

import pytest

from replyx.web.embed import content_security_policy, frame_ancestors


def test_no_allowed_domains_lets_any_site_frame_the_chat() -> None:
    assert frame_ancestors([]) == "frame-ancestors *"
    assert frame_ancestors(["  "]) == "frame-ancestors *"


def test_a_domain_admits_itself_and_its_subdomains_besides_replyx() -> None:
    assert frame_ancestors(["Shop.example"]) == "frame-ancestors 'self' shop.example *.shop.example"


@pytest.mark.parametrize(
    ("entry", "sources"),
    [
        ("https://shop.example:8443/path", "https://shop.example:8443 https://*.shop.example:8443"),
        ("http://shop.example", "http://shop.example http://*.shop.example"),
        ("*.shop.example", "shop.example *.shop.example"),
        ("127.0.0.1:9000", "127.0.0.1:9000"),
        ("localhost", "localhost"),
    ],
)
def test_entries_keep_their_scheme_and_port(entry: str, sources: str) -> None:
    assert frame_ancestors([entry]) == f"frame-ancestors 'self' {sources}"


@pytest.mark.parametrize("entry", ["javascript:alert(1)", "shop.example; script-src *", "data://x", "[::1]:80"])
def test_entries_that_are_no_host_are_dropped_and_never_widen_the_policy(entry: str) -> None:
    assert frame_ancestors([entry]) == "frame-ancestors 'self'"


def test_the_page_runs_only_its_own_scripts_and_talks_only_to_replyx() -> None:
    policy = content_security_policy(["shop.example"], public_url="", host_header="chat.example:8000")
    directives = dict(part.split(" ", 1) for part in policy.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self' ws://chat.example:8000 wss://chat.example:8000"
    assert directives["frame-ancestors"] == "'self' shop.example *.shop.example"


def test_a_forged_host_header_adds_nothing_to_the_policy() -> None:
    policy = content_security_policy([], public_url="", host_header="evil; script-src *")
    assert "connect-src 'self';" in policy
    assert policy.count("script-src") == 1
