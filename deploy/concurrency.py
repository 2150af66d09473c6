"""How many invocations Lambda runs at once for each priority's queue: the template's event
sources and the embedded stack's pollers both read this, so what runs locally is what AWS runs."""

from __future__ import annotations

from chalicelib.jobs.lifecycle import Priority

# Lambda polls a queue with at most this many concurrent invocations (2 is the floor AWS
# accepts, 1000 the ceiling). Weighted so urgent work gets the most room under load; low still
# gets two. https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
MAXIMUM_CONCURRENCY: dict[Priority, int] = {
    Priority.URGENT: 20,
    Priority.HIGH: 10,
    Priority.NORMAL: 5,
    Priority.LOW: 2,
}
MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY = 2, 1000
