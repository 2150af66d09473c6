from tests.conftest import Stack


def test_a_scheduled_import_job_completes_with_its_result(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin)
    assert job["status"] == "pending"
    assert stack.poller.drain() == 1
    status = stack.get(f"/api/background-jobs/{job['id']}/status", admin).json_body["job"]
    assert status["status"] == "completed"
    assert status["progress"] == 100
    assert status["result"] == {"total": 3, "successful": 3, "failed": 0}
