"""Operational commands: ``python -m scripts.<name>`` (the Makefile and CI run them)."""
