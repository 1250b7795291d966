"""Logging with redaction, metrics and deployment checks."""
