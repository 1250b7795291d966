"""The real-time layer: protocol, hub of local sockets, brokers and WebSocket endpoints.

How seq, replay and broker outages fit together is told in docs/realtime.md.
"""
