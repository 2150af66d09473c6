"""``/api/admin/dead-letters``: what the workers could not even record, and putting it back (admin only)."""

from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import Envelope
from chalicelib.errors import ForbiddenError
from chalicelib.jobs.lifecycle import PRIORITY_ORDER, Priority
from chalicelib.jobs.model import parse_model

bp = Blueprint(__name__)

MAX_REDRIVE = 1000


class RedriveRequest(BaseModel):
    """Which dead-letter queue to empty back into its queue (all four when no priority is given)."""

    model_config = ConfigDict(extra="forbid")

    priority: Priority | None = None
    max_messages: int = Field(default=100, ge=1, le=MAX_REDRIVE)


class DeadLetterView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: str
    message_id: str
    body: str = Field(description="The message body (its first 2,000 characters).")
    reason: str | None = Field(description="Why a worker parked it; null when SQS's redrive policy did.")
    sent_at: str | None
    receive_count: int


class DeadLettersAnswer(Envelope):
    dead_letters: list[DeadLetterView] = Field(description="Up to 10 parked messages per queue (SQS samples).")


class RedriveAnswer(Envelope):
    moved: dict[str, int] = Field(description="Messages moved back, by priority.")
    total: int


def require_admin(call: Call) -> None:
    if not call.principal.is_admin:
        raise ForbiddenError("Only an admin may read or redrive the dead-letter queues.", code="admin_only")


@endpoint(
    bp,
    "/admin/dead-letters",
    ["GET"],
    summary="A sample of the messages parked in the dead-letter queues (admin).",
    response=DeadLettersAnswer,
    errors=(403,),
)
def list_dead_letters(call: Call) -> Response:
    require_admin(call)
    queues = runtime.current().queues
    parked = [letter for priority in PRIORITY_ORDER for letter in queues.peek_dead_letters(priority)]
    return ok({"dead_letters": [DeadLetterView(**vars(letter)).model_dump() for letter in parked]})


@endpoint(
    bp,
    "/admin/dead-letters/redrive",
    ["POST"],
    summary="Move parked messages back to their queues, to be run again (admin).",
    body=RedriveRequest,
    body_required=False,
    response=RedriveAnswer,
    errors=(403,),
)
def redrive(call: Call) -> Response:
    require_admin(call)
    request = parse_model(RedriveRequest, call.optional_json_body())
    queues = runtime.current().queues
    chosen = [request.priority] if request.priority else list(PRIORITY_ORDER)
    moved: dict[str, int] = {}
    left = request.max_messages
    for priority in chosen:
        moved[priority.value] = queues.redrive_dead_letters(priority, left) if left > 0 else 0
        left -= moved[priority.value]
    return ok({"moved": moved, "total": sum(moved.values())})
