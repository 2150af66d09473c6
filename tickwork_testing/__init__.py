"""A test kit for plugin authors: run a job handler inline, with no AWS and no stack.

    from tickwork_testing import run_handler

    run = run_handler(MyImportJob, payload={"count": 3}, cancel_at_progress=2)
    assert run.status == "cancelled"

It lives outside ``chalicelib/`` because Chalice zips all of ``chalicelib/`` into the Lambda
package, and nothing on Lambda runs it (docs/plugin-guide.md, "Testing a handler").
"""

from tickwork_testing.context import ProgressCall
from tickwork_testing.runner import HandlerRun, RunStatus, run_handler

__all__ = ["HandlerRun", "ProgressCall", "RunStatus", "run_handler"]
