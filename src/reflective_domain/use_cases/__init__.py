"""Use cases: one per user intent, written against the ports only."""
