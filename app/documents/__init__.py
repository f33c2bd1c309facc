"""Printable case documents."""
