"""Live data: one shared Redis feed, shared topics, and execute-once fan-out to subscribers."""
