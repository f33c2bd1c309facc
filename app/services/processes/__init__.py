"""Processes: the catalogue of items, the designer, versions, deploy checks, migration."""
