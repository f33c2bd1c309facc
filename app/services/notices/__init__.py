"""Notices to people: in-app notifications and the delivery outbox."""
