"""Archival packages (电子文件归档): building, reading and checking them without the database.

Everything here works on files alone, so `flask archive verify-batch` can check a transfer on a
machine that has no OneWindow database.
"""
