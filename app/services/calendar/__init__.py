"""The business calendar: stored years and working-day arithmetic."""
