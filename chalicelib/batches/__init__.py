"""Batches: many jobs scheduled as one, counted as they end, with callbacks when all have."""
