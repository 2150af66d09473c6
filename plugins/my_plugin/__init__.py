"""The guide's "my-plugin": a bulk import job with progress (plugins/my-plugin/index.js, in Python)."""

from __future__ import annotations

import logging

from chalicelib.jobs.manager import JobManager
from plugins.my_plugin import routes
from plugins.my_plugin.jobs.import_job import ImportPayload, MyImportJob
from plugins.my_plugin.jobs.parallel_import import (
    PARALLEL_IMPORT_TYPE,
    SUMMARY_TYPE,
    ImportSummaryJob,
    ParallelImportJob,
    ParallelImportPayload,
    SummaryPayload,
)

logger = logging.getLogger(__name__)

PLUGIN_NAME = "my-plugin"
IMPORT_TYPE = routes.IMPORT_TYPE
blueprints = [routes.bp]


def initialize_plugin(job_manager: JobManager) -> None:
    job_manager.register_job_type(IMPORT_TYPE, MyImportJob, payload_model=ImportPayload)
    job_manager.register_job_type(PARALLEL_IMPORT_TYPE, ParallelImportJob, payload_model=ParallelImportPayload)
    job_manager.register_job_type(SUMMARY_TYPE, ImportSummaryJob, payload_model=SummaryPayload)
    logger.info("My Plugin job types registered")
