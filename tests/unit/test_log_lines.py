"""A log line's JSON and console forms, the context it carries, and the libraries kept quiet."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from chalicelib.telemetry import context
from chalicelib.telemetry.formatting import ConsoleFormatter, ContextFilter, JsonFormatter
from chalicelib.telemetry.setup import CHATTY_LIBRARIES, configure_logging, level_of

SECRET = "hunter2-very-secret"


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose lines go through the real formatter into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    log = logging.getLogger("tickwork.test-lines")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, buffer
    log.removeHandler(handler)
    log.propagate = True


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(text) for text in buffer.getvalue().splitlines()]


def test_a_line_carries_level_message_timestamp_the_context_and_extras(
    written: tuple[logging.Logger, io.StringIO],
) -> None:
    log, buffer = written
    with context.bound(correlation_id="c-1", job_id="j-1", attempt=2, store_id=None):
        log.info("job %s ran", "j-1", extra={"duration_ms": 12})
    log.warning("outside")
    first, second = lines(buffer)
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert first["message"] == "job j-1 ran" and first["level"] == "INFO"
    assert first["correlation_id"] == "c-1" and first["job_id"] == "j-1" and first["attempt"] == 2
    assert "store_id" not in first and first["duration_ms"] == 12
    assert second == {"timestamp": second["timestamp"], "level": "WARNING", "logger": log.name, "message": "outside"}


def test_a_jobs_secret_is_scrubbed_from_the_message_the_extras_and_the_traceback(
    written: tuple[logging.Logger, io.StringIO],
) -> None:
    log, buffer = written
    with context.bound(job_id="j-1", keep_secrets=True):
        context.hide([SECRET, "abc"])  # too short to scrub: it would blank ordinary words
        try:
            raise RuntimeError(f"server said {SECRET}")
        except RuntimeError:
            log.exception("sent %s", SECRET, extra={"headers": {"Authorization": f"Bearer {SECRET}"}})
        log.info('a quote " and %s', SECRET)
    log.info("after the job: %s", SECRET)  # its secrets are the job's: outside it, nothing to scrub
    output = buffer.getvalue()
    inside, quoted, after = lines(buffer)
    assert SECRET not in json.dumps([inside, quoted]) and SECRET not in output.split("\n")[0]
    assert inside["message"] == "sent ********" and "RuntimeError: server said ********" in str(inside["exception"])
    assert inside["headers"] == {"Authorization": "Bearer ********"}
    assert quoted["message"] == 'a quote " and ********'
    assert after["message"] == f"after the job: {SECRET}"


def test_a_thread_the_job_starts_keeps_its_context_and_its_secrets(written: tuple[logging.Logger, io.StringIO]) -> None:
    log, buffer = written
    with context.bound(job_id="j-9", keep_secrets=True):
        worker = threading.Thread(target=context.carried(lambda: log.info("beat %s", SECRET)))
        context.hide([SECRET])  # revealed after the thread was made: still hidden there
        worker.start()
        worker.join()
    bare = threading.Thread(target=lambda: log.info("bare"))
    bare.start()
    bare.join()
    beat, plain = lines(buffer)
    assert beat["job_id"] == "j-9" and beat["message"] == "beat ********"
    assert "job_id" not in plain


def test_the_console_form_is_one_readable_line_with_the_same_fields() -> None:
    record = logging.LogRecord("tickwork.worker", logging.INFO, __file__, 1, "job %s done", ("j-1",), None)
    with context.bound(job_id="j-1", correlation_id="c-1"):
        text = ConsoleFormatter().format(record)
    assert "\n" not in text
    assert "INFO" in text and "tickwork.worker" in text and "job j-1 done" in text
    assert "correlation_id=c-1" in text and "job_id=j-1" in text


@pytest.mark.parametrize("value", ["order-42", "a.b:c_d-e", "x" * 128])
def test_a_sane_correlation_id_is_kept(value: str) -> None:
    assert context.sane_correlation_id(value) == value


@pytest.mark.parametrize("value", ["", " ", "x" * 129, "two words", "a\nb", "-leading", "é", '{"a":1}'])
def test_any_other_correlation_id_is_refused(value: str) -> None:
    assert context.sane_correlation_id(value) is None


@pytest.mark.parametrize(("level", "libraries"), [("INFO", logging.WARNING), ("debug", logging.DEBUG)])
def test_aws_and_http_libraries_stay_at_warning_unless_debug_is_asked_for(level: str, libraries: int) -> None:
    root = logging.getLogger()
    before = root.level, {name: logging.getLogger(name).level for name in CHATTY_LIBRARIES}
    try:
        configure_logging(level)
        assert root.level == level_of(level)
        assert {logging.getLogger(name).level for name in CHATTY_LIBRARIES} == {libraries}
    finally:
        root.setLevel(before[0])
        for name, value in before[1].items():
            logging.getLogger(name).setLevel(value)


def test_an_unknown_level_name_means_info() -> None:
    assert level_of("verbose") == logging.INFO and level_of(None) == logging.INFO and level_of("error") == logging.ERROR
