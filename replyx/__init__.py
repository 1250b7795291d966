"""replyx: a self-hosted live chat for websites with an assistant and a human handoff."""

__version__ = "0.1.0"
