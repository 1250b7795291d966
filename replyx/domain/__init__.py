"""Business rules: identity, dialogs, the one write path and handoff."""
