"""Business rules: identity, dialogs, the one write path, handoff and notices; no sockets, no HTTP."""
