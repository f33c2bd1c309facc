"""Accounts: who may log in, how hard a password must be, sessions and tokens, and the login throttle."""
