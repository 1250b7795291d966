"""Static front ends served by replyx: the widget loader, the chat iframe and the admin panel."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
