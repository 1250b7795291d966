"""Helpers the tests share: real server processes, socket clients, REST shortcuts."""
