"""Supervision: deadline alerts, supervision orders, reports and ratings."""
