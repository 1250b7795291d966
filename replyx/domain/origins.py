"""Which page origins may talk to an assistant's visitor endpoints."""

from __future__ import annotations

from urllib.parse import urlsplit

from replyx.domain.errors import Forbidden


def normalize_domain(entry: str) -> str:
    """``https://Shop.example:8443/x`` -> ``shop.example:8443``; bare hosts stay as they are."""
    entry = entry.strip().lower()
    if "://" not in entry:
        entry = "//" + entry
    parts = urlsplit(entry)
    return parts.netloc.rsplit("@", 1)[-1]


def origin_allowed(origin: str | None, *, allowed_domains: list[str], own_hosts: list[str]) -> bool:
    """True when no Origin is sent (not a browser), it is this server, or an allowed domain.

    An empty allow-list accepts every origin; an entry matches its host and its
    subdomains, and, when it names a port, only that port.
    """
    if not origin or (origin == "null" and not allowed_domains):
        return True
    netloc = normalize_domain(origin)
    host = netloc.split(":", 1)[0]
    if netloc in {normalize_domain(h) for h in own_hosts if h}:
        return True
    if not allowed_domains:
        return True
    for entry in (normalize_domain(d) for d in allowed_domains if d.strip()):
        entry = entry.removeprefix("*.")
        if ":" in entry:
            if netloc == entry:
                return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


def check_origin(origin: str | None, *, allowed_domains: list[str], own_hosts: list[str]) -> None:
    """Forbidden unless ``origin_allowed``: the one check of visitor REST routes and sockets."""
    if not origin_allowed(origin, allowed_domains=allowed_domains, own_hosts=own_hosts):
        raise Forbidden("origin not allowed")
