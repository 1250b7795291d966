"""The nginx configuration replyx ships, and the parts of it that ``replyx doctor`` quotes.

The file is package data (``replyx/deploy/nginx.conf``; ``deploy/nginx/nginx.conf`` links to it), so
an installed doctor prints the very config the tests run under a real nginx, never a copy of it.
"""

from __future__ import annotations

import re
import textwrap
from importlib import resources

# Where the file is in the repository, for people reading the advice next to a checkout.
REPOSITORY_PATH = "deploy/nginx/nginx.conf"
WEBSOCKET_LOCATION = "location /ws/"


def shipped_config() -> str:
    """The text of the nginx config that ships with this replyx."""
    return resources.files("replyx").joinpath("deploy", "nginx.conf").read_text(encoding="utf-8")


def shipped_path() -> str:
    """Where the shipped config is on this machine (inside the installed package)."""
    return str(resources.files("replyx").joinpath("deploy", "nginx.conf"))


def block(config: str, header: str) -> str:
    """The block that opens with ``header {`` (e.g. ``location /ws/``), dedented, with its comments.

    The comment lines right above the header come along: they say why the block is there.
    """
    match = re.search(rf"^[ \t]*{re.escape(header)}\s*\{{", config, re.MULTILINE)
    if match is None:
        raise ValueError(f"the nginx config has no `{header}` block")
    start = match.start()
    while (above := re.search(r"^[ \t]*#[^\n]*\n\Z", config[:start], re.MULTILINE)) is not None:
        start = above.start()
    depth, index, quote = 0, match.end() - 1, ""
    while index < len(config):
        char = config[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            index = config.find("\n", index)
            if index < 0:
                break
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return textwrap.dedent(config[start : index + 1])
        index += 1
    raise ValueError(f"the `{header}` block of the nginx config is not closed")


def directives(block_text: str) -> list[str]:
    """The top-level directives of a block (``name args;``), without comments."""
    body = block_text[block_text.index("{") + 1 : block_text.rindex("}")]
    found = []
    for line in body.splitlines():
        statement = line.split("#", 1)[0].strip()
        if statement.endswith(";"):
            found.append(statement)
    return found


def maps_for(config: str, text: str) -> list[str]:
    """The ``map`` blocks of the config that define a variable ``text`` uses."""
    used = set(re.findall(r"\$(\w+)", "\n".join(directives(text))))
    return [
        block(config, f"map ${source} ${target}")
        for source, target in re.findall(r"^[ \t]*map \$(\w+) \$(\w+)\s*\{", config, re.MULTILINE)
        if target in used
    ]


def websocket_location_advice(config: str | None = None) -> str:
    """How to add the shipped /ws/ location: the maps it needs in ``http``, then the location itself."""
    config = shipped_config() if config is None else config
    location = block(config, WEBSOCKET_LOCATION)
    maps = maps_for(config, location)
    parts = []
    if maps:
        parts.append("In the http section (once), the variables it uses:\n" + "\n".join(maps))
    parts.append(
        "In the server section, the WebSocket location (proxy_pass to your upstream of replyx backends):\n" + location
    )
    parts.append(f"The whole file is {REPOSITORY_PATH} in replyx's repository, and on this machine:\n{shipped_path()}")
    return "\n".join(parts)


def upgrade_headers_advice(config: str | None = None) -> str:
    """The shipped /ws/ location's directives that pass a WebSocket upgrade on, with their maps."""
    config = shipped_config() if config is None else config
    location = block(config, WEBSOCKET_LOCATION)
    upgrade = [
        d
        for d in directives(location)
        if d.startswith("proxy_http_version") or re.match(r"proxy_set_header (Upgrade|Connection)\b", d)
    ]
    advice = "In the /ws/ location:\n" + "\n".join(f"    {d}" for d in upgrade)
    maps = maps_for(config, "{\n" + "\n".join(upgrade) + "\n}")
    if maps:
        advice += "\nIn the http section:\n" + "\n".join(maps)
    return advice


def websocket_timeout(config: str | None = None) -> str:
    """The shipped /ws/ location's ``proxy_read_timeout`` (e.g. ``120s``)."""
    config = shipped_config() if config is None else config
    for directive in directives(block(config, WEBSOCKET_LOCATION)):
        name, _, value = directive.rstrip(";").partition(" ")
        if name == "proxy_read_timeout":
            return value.strip()
    raise ValueError("the /ws/ location of the nginx config sets no proxy_read_timeout")
