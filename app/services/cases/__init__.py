"""Cases: intake, work on tasks, routing, the case runtime, deadlines, events, timers, and moving running
cases to a newer process version."""
