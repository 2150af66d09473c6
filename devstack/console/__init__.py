"""The terminal client behind ``python -m devstack.cli jobs|cron``: HTTP client, rendering, commands."""
