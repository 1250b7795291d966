"""``python -m replyx`` runs the command-line interface."""

from replyx.cli import main

main()
