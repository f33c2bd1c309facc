"""Filing completed cases, searching the archive, transfers to the archives."""
