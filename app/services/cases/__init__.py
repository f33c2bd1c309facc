"""Cases: intake, work on tasks, routing, the case runtime, deadlines, events, timers."""
