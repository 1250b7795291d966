"""Servers a user might pick instead of replyx, driven by the same client and room shape."""
