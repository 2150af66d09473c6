"""Benchmarks: ``python -m bench`` (``make bench``) runs the eight benchmarks into one table;
each is also ``python -m bench.<name>`` (throughput, requests_per_job, tick_scaling, lateness, cold_start,
api_rps, memory, cron_speed). ``bench.keepalive`` (Chalice's local server, stock vs tuned) runs on its own.
"""
