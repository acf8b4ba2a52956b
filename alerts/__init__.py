"""Alert delivery: Redis storage of incident events and the HTTP API that reads it."""
