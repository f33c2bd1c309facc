"""Processes: the catalogue of items, the designer, versions and deploy checks."""
