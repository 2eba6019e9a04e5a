"""Request and response bodies of the runs routes (SPEC 4: `POST /v1/runs`, heartbeats,
reads). Every string, list and number is bounded, and text is refused where the
database would refuse it (control characters, lone surrogates), so that hostile input
is a 422 naming the field, never a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field

from ..schedules import MAX_STEP
from ..store.runs import MAX_EVENTS_PER_RUN, MAX_POINTS_PER_BEAT, MAX_POINTS_PER_RUN
from .models import Definition, Input
from .names import NAME_PATTERN
from .params import JSON_INTEGER, MAX_VERSION, STEPS_PER_EPOCH

MAX_EVENTS_PER_BEAT = 100
MAX_DETAIL_BYTES = 4096  # an event's `detail`, serialized
MAX_BOUND_DEFINITION_BYTES = 65_536
MAX_JSON_DEPTH = 16
MAX_WORLD_SIZE = 2**20
MAX_PID = 2**31 - 1
MAX_COUNT = 2**31 - 1  # an Integer column (report_failures, a parameter group index)
_NAME = NAME_PATTERN.removeprefix("^").removesuffix("$")
SCHEDULE_PATTERN = f"^{_NAME}/{_NAME}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
RUN_ID_PATTERN = r"^[0-9a-f]{16}$"
# One line of printable text: PostgreSQL refuses a NUL; nothing else is meant either.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
EVENT_KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


def _encodable(value: str) -> str:
    """Raises ValueError for a lone surrogate (a `\\ud800` escape), which no database
    column can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogate escapes)") from None
    return value


def _json_number(value: Any) -> Any:
    """A JSON number: a boolean or a string is none (pydantic's lax float takes both)."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


def _bounded_json(limit: int) -> AfterValidator:
    """A JSON object of at most `limit` bytes serialized and MAX_JSON_DEPTH levels deep,
    with finite numbers and valid text only. Raises ValueError naming what is wrong."""

    def check(value: dict[str, Any]) -> dict[str, Any]:
        if _depth(value) > MAX_JSON_DEPTH:
            raise ValueError(f"must be at most {MAX_JSON_DEPTH} levels deep")
        try:
            size = len(json.dumps(value, allow_nan=False, ensure_ascii=False).encode())
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no lone surrogate escapes)") from None
        except ValueError:
            raise ValueError("must hold finite numbers only (no NaN or Infinity)") from None
        if size > limit:
            raise ValueError(f"must be at most {limit} bytes as JSON; got {size}")
        return value

    return AfterValidator(check)


def _depth(value: Any) -> int:
    """How deeply `value` nests (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            level += 1
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                return level
            stack.extend(
                (child, level) for child in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


def _utc(value: datetime) -> datetime:
    """An aware datetime in UTC. Raises ValueError when UTC cannot hold it (year 1 with a
    positive offset)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time that UTC can represent") from None


# One-line text fields by their bound.
Text40 = Annotated[str, Field(max_length=40, pattern=TEXT_PATTERN), AfterValidator(_encodable)]
Text255 = Annotated[str, Field(max_length=255, pattern=TEXT_PATTERN), AfterValidator(_encodable)]
Step = Annotated[int, Field(ge=0, le=MAX_STEP), JSON_INTEGER]
Count = Annotated[int, Field(ge=0, le=MAX_STEP), JSON_INTEGER]
SmallCount = Annotated[int, Field(ge=0, le=MAX_COUNT), JSON_INTEGER]
Version = Annotated[int, Field(ge=1, le=MAX_VERSION), JSON_INTEGER]
Lr = Annotated[float, BeforeValidator(_json_number), Field(allow_inf_nan=False)]
Digest = Annotated[str, Field(pattern=DIGEST_PATTERN, description="sha256:<64 hex digits>")]
Framework = Annotated[
    Text40, Field(description='"torch", "keras/tensorflow", "keras/jax", "keras/torch", "none"')
]
When = Annotated[AwareDatetime, AfterValidator(_utc)]
Status = Literal["running", "finished", "failed"]
Point = tuple[Step, Lr, Lr | None]


class FirstMismatch(Input):
    """The first update whose applied lr differed from the registry's."""

    step: Step
    expected: Lr | None = None
    observed: Lr | None = None
    group: SmallCount | None = Field(None, description="the optimizer's parameter group")
    # Free text (it is stored inside JSON, so a line break or any escape is fine).
    cause: Annotated[str, Field(max_length=200), AfterValidator(_encodable)] | None = Field(
        None, description="the likely cause, in words"
    )


class RunCreate(Input):
    """A job registering the run it starts. `digest` is the curve it runs: the version's,
    or for a run-length template its binding's to `total_steps` (then `template_digest`
    is the version's)."""

    schedule: str = Field(pattern=SCHEDULE_PATTERN, max_length=129, description="namespace/name")
    version: Version
    digest: Digest
    template_digest: Digest | None = None
    bound_definition: Annotated[Definition, _bounded_json(MAX_BOUND_DEFINITION_BYTES)] | None = (
        Field(
            None, description="a template's binding as the job has it (the server stores its own)"
        )
    )
    total_steps: Annotated[int, Field(ge=0, le=MAX_STEP), JSON_INTEGER] | None = None
    steps_per_epoch: (
        Annotated[int, Field(ge=STEPS_PER_EPOCH.ge, le=STEPS_PER_EPOCH.le), JSON_INTEGER] | None
    ) = None
    world_size: Annotated[int, Field(ge=1, le=MAX_WORLD_SIZE), JSON_INTEGER] = 1
    framework: Framework = "none"
    host: Text255 = ""
    pid: Annotated[int, Field(ge=0, le=MAX_PID), JSON_INTEGER] | None = None
    follow: bool = False
    started_at: When | None = Field(None, description="ISO 8601 with an offset; default now")
    client_version: Text40 | None = None


class RunEventIn(Input):
    kind: Annotated[str, Field(pattern=EVENT_KIND_PATTERN)] = Field(
        description="mismatch, amendment_adopted, amendment_refused, resume, "
        "report_failures, ... (lowercase, digits, _)"
    )
    step: Step | None = None
    detail: Annotated[dict[str, Any], _bounded_json(MAX_DETAIL_BYTES)] = {}


class Heartbeat(Input):
    """What a job reports; a field left out (or null) leaves the run's value as it is.
    Counters are cumulative."""

    progress: Step | None = Field(None, description="the last optimizer update seen")
    status: Status | None = None
    current_version: Version | None = Field(
        None, description="the version the job follows now (after amendments it adopted)"
    )
    framework: Framework | None = None
    observed: Count | None = Field(None, description="updates whose lr was checked")
    mismatches: Count | None = None
    report_failures: SmallCount | None = Field(None, description="heartbeats that failed")
    first_mismatch: FirstMismatch | None = Field(None, description="kept once set")
    points: list[Point] = Field(
        [],
        max_length=MAX_POINTS_PER_BEAT,
        description=f"[step, lr applied, expected lr or null]; a run keeps "
        f"{MAX_POINTS_PER_RUN:,} steps",
    )
    events: list[RunEventIn] = Field(
        [],
        max_length=MAX_EVENTS_PER_BEAT,
        description=f"a run keeps {MAX_EVENTS_PER_RUN:,} events",
    )


class RunPublic(BaseModel):
    id: str
    schedule: str = Field(description="namespace/name")
    version: int = Field(description="pinned at registration")
    current_version: int
    digest: str
    template_digest: str | None
    bound_definition: Definition | None
    total_steps: int | None
    steps_per_epoch: int | None
    world_size: int
    framework: str
    host: str
    pid: int | None
    follow: bool
    actor: str
    client_version: str | None
    started_at: datetime
    registered_at: datetime
    last_seen_at: datetime
    status: Status
    live: bool = Field(description="running, and heard from within STEPSIZE_RUN_STALE_AFTER s")
    progress: int | None
    heartbeats: int
    observed: int
    mismatches: int
    first_mismatch: FirstMismatch | None
    report_failures: int


class RunCreated(BaseModel):
    id: str
    key: str = Field(
        description="the run's secret, for X-Stepsize-Run-Key: shown this once, stored as a hash"
    )
    run: RunPublic


class HeartbeatAnswer(RunPublic):
    points_dropped: int = Field(description="new steps of this beat past the run's cap")
    events_dropped: int = Field(description="events of this beat past the run's cap")


class RunEventPublic(BaseModel):
    at: datetime
    kind: str
    step: int | None
    detail: dict[str, Any]


class RunDetailPublic(RunPublic):
    points: list[tuple[int, float, float | None]] = Field(description="[step, lr, expected]")
    events: list[RunEventPublic]


class RunList(BaseModel):
    items: list[RunPublic]
    next_cursor: str | None
