"""Per-minute counters for the dashboard's overview, kept in the jobs table (docs/architecture.md)."""
