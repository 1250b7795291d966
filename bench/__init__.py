"""Load and fan-out benchmark of replyx's delivery path, side by side with bare broadcast peers.

Run ``make bench`` (or ``python -m bench --help``); docs/performance.md explains
what is measured and quotes the figures.
"""
