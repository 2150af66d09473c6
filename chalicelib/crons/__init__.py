"""Cron jobs: recurring definitions whose every firing is a background job."""
