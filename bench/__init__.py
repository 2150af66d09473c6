"""Benchmarks: ``python -m bench.<name>`` (requests_per_job, keepalive)."""
