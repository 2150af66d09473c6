"""Every AWS client of the runtime keeps as many connections as the settings say."""

from __future__ import annotations

import boto3

from chalicelib.config import Settings
from chalicelib.runtime import Runtime


def test_clients_and_tables_take_the_pool_size_from_the_settings() -> None:
    settings = Settings.from_env({"TICKWORK_BOTO_POOL_CONNECTIONS": "232"})
    runtime = Runtime(settings, session=boto3.session.Session(region_name="us-east-1"))
    assert runtime.client("sqs").meta.config.max_pool_connections == 232
    assert runtime.cron_store._table.meta.client.meta.config.max_pool_connections == 232
    assert runtime.client("sqs").meta.config.retries["mode"] == "standard"


def test_the_default_fits_one_lambda() -> None:
    assert Settings.from_env({}).boto_pool_connections == 32
