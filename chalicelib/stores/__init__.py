"""Stores as tenants: how many jobs each may run at once, and who waits when it may not."""
