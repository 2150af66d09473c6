"""The terminal client behind ``python -m chalicelib.cli jobs|cron``: HTTP client, rendering, commands."""
