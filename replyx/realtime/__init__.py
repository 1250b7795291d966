"""The real-time layer: socket protocol, hub of local sockets and WebSocket endpoints.

How seq, replay and broker outages fit together is told in docs/realtime.md.
"""
