"""REST routers; each route only parses, authorizes and calls the domain."""
