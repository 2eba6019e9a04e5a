"""Request and response bodies (separate input and output models).

A definition is typed `dict` at runtime, so that it is validated by the schedule language
(`compile_definition`, whose errors carry JSON pointers), while the OpenAPI document shows
it as the `Schedule` schema (the discriminated union of every type)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ..schedules import MAX_STEP
from ..store.tokens import SCOPE_PATTERN
from .params import JSON_INTEGER, STEPS_PER_EPOCH, TOTAL_STEPS, VERSION_NUMBER

# allOf: pydantic resolves a bare $ref that has sibling keys (the field's title) against
# its own definitions, where `Schedule` is not; app.openapi() adds it to the components.
SCHEDULE_REF = {"allOf": [{"$ref": "#/components/schemas/Schedule"}]}
Definition = Annotated[dict[str, Any], WithJsonSchema(SCHEDULE_REF)]
StepValue = Annotated[Any, WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_STEP})]
Labels = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=256)]],
    Field(max_length=64, description="free-form key/value strings"),
]
MAX_POST_STEPS = 100_000
TEMPLATE_DIGEST = Field(None, description="a run-length template's own digest (the version's)")
BOUND_DIGEST = Field(
    None, description="a template's binding to total_steps: its digest (also `digest`)"
)
TotalStepsField = Annotated[int, TOTAL_STEPS.bounds(), JSON_INTEGER] | None


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FromRecord(BaseModel):
    """An output model read from a store record's attributes (`model_validate(record)`)."""

    model_config = ConfigDict(from_attributes=True)


class AmendsCreate(Input):
    """The version an amendment amends and the step from which it differs."""

    version: Annotated[int, VERSION_NUMBER.bounds(), JSON_INTEGER] = Field(
        description="the amended version: the new one equals it before from_step"
    )
    from_step: Annotated[int, Field(ge=1, le=MAX_STEP), JSON_INTEGER] = Field(
        description="the first step that follows `definition` (at local step "
        "step - from_step); >= 1"
    )


class VersionCreate(Input):
    """A version: `definition` alone, or with `amends` an amendment (SPEC 4): equal to
    version `amends.version` before `amends.from_step`, `definition` from there on."""

    definition: Definition
    description: str | None = Field(None, max_length=10_000)
    labels: Labels = {}
    amends: AmendsCreate | None = None


class AmendsPublic(FromRecord):
    version: int = Field(description="the amended version")
    from_step: int = Field(description="the version equals the amended one before this step")


AMENDS_DESCRIPTION = "for an amendment, the version it amends and from which step; else null"


class VersionPublic(BaseModel):
    """One version; `definition` is normalized (defaults filled in, keys sorted)."""

    schedule: str = Field(description="namespace/name")
    version: int
    digest: str
    definition: Definition
    author: str
    created_at: datetime
    description: str | None
    labels: dict[str, str]
    horizon: int | None = Field(
        description="the step after which the value is constant; null if it never settles "
        "or depends on steps_per_epoch (or, for a template, on total_steps)"
    )
    template: bool = Field(
        False,
        description="true for a run-length template (lr queries need total_steps); "
        "absent otherwise",
    )
    bound: Bound | None = Field(None, description="a template's binding for total_steps=")
    # No default: shown (as null for an ordinary version) although the routes exclude defaults.
    amends: AmendsPublic | None = Field(description=AMENDS_DESCRIPTION)


class VersionItem(FromRecord):
    version: int
    digest: str
    author: str
    created_at: datetime
    description: str | None
    labels: dict[str, str]
    amends: AmendsPublic | None = Field(description=AMENDS_DESCRIPTION)


class AmendmentItem(FromRecord):
    """One amendment below the version asked about."""

    version: int
    amends_version: int
    from_step: int
    digest: str
    created_at: datetime


class LatestAmendment(BaseModel):
    version: int = Field(description="the newest amendment below the version asked about")
    digest: str
    from_step: int = Field(
        description="the min from_step along `path`: the newest amendment equals the "
        "version asked about at every step before it"
    )
    path: list[int] = Field(description="the versions from the one asked about to `version`")


class AmendmentList(BaseModel):
    """Every amendment below `version` through amends links (oldest first; at most
    `limit` listed, `count` in all, `next_cursor` for the rest), and the newest one."""

    schedule: str
    version: int
    amendments: list[AmendmentItem]
    count: int = Field(description="amendments below the version in all")
    next_cursor: str | None
    latest: LatestAmendment | None


class VersionList(BaseModel):
    schedule: str
    items: list[VersionItem]
    next_cursor: str | None


class SchedulePublic(FromRecord):
    namespace: str
    name: str
    latest_version: int
    tags: dict[str, int]
    version_count: int
    created_at: datetime
    updated_at: datetime
    archived: bool


class ScheduleList(BaseModel):
    items: list[SchedulePublic]
    next_cursor: str | None


class TagUpdate(Input):
    version: Annotated[int, VERSION_NUMBER.bounds(), JSON_INTEGER]


class TagPublic(BaseModel):
    schedule: str
    tag: str
    version: int | None = Field(description="null once dropped")
    previous: int | None


class Bound(BaseModel):
    """A run-length template bound to one run length: an ordinary definition."""

    total_steps: int
    steps_per_epoch: int | None
    definition: Definition
    digest: str
    horizon: int | None


class LrPoint(BaseModel):
    schedule: str
    version: int
    digest: str
    template_digest: str | None = TEMPLATE_DIGEST
    bound_digest: str | None = BOUND_DIGEST
    step: int
    lr: float


class LrRange(BaseModel):
    schedule: str
    version: int
    digest: str
    template_digest: str | None = TEMPLATE_DIGEST
    bound_digest: str | None = BOUND_DIGEST
    start: int
    stop: int
    stride: int
    lr: list[float]


class LrStepsRequest(Input):
    steps: list[StepValue] = Field(max_length=MAX_POST_STEPS)


class LrSteps(BaseModel):
    schedule: str
    version: int
    digest: str
    template_digest: str | None = TEMPLATE_DIGEST
    bound_digest: str | None = BOUND_DIGEST
    steps: list[int]
    lr: list[float]


class EvaluateRequest(Input):
    """Exactly one of `step`, `steps` or `stop` (with `start`, `stride`)."""

    definition: Definition
    step: StepValue | None = None
    steps: list[StepValue] | None = Field(None, max_length=MAX_POST_STEPS)
    start: StepValue | None = None
    stop: StepValue | None = None
    stride: StepValue | None = None
    steps_per_epoch: Annotated[int, STEPS_PER_EPOCH.bounds(), JSON_INTEGER] | None = (
        STEPS_PER_EPOCH.field()
    )
    total_steps: TotalStepsField = TOTAL_STEPS.field()


class EvaluateResult(BaseModel):
    """`step` and `lr` (a number), `steps` and `lr`, or `start`/`stop`/`stride` and `lr`."""

    digest: str
    template_digest: str | None = TEMPLATE_DIGEST
    bound_digest: str | None = BOUND_DIGEST
    step: int | None = None
    steps: list[int] | None = None
    start: int | None = None
    stop: int | None = None
    stride: int | None = None
    lr: float | list[float]


class ValidateRequest(Input):
    definition: Definition
    total_steps: TotalStepsField = TOTAL_STEPS.field()
    steps_per_epoch: Annotated[int, STEPS_PER_EPOCH.bounds(), JSON_INTEGER] | None = (
        STEPS_PER_EPOCH.field()
    )


class ValidateResult(BaseModel):
    normalized: Definition
    digest: str
    horizon: int | None
    warnings: list[str]
    template: bool = Field(
        False,
        description="true for a run-length template (durations such as 0.1dur); absent otherwise",
    )
    bound: Bound | None = Field(None, description="a template's binding for total_steps")


class TypeParameter(BaseModel):
    name: str
    type: str = Field(description="JSON type: number, integer, string, boolean, schedule, ...")
    required: bool
    default: Any = None
    description: str | None = Field(
        None, description="what the parameter means (the model field's description)"
    )
    json_schema: dict[str, Any] = Field(alias="schema", serialization_alias="schema")

    model_config = ConfigDict(populate_by_name=True)


class TypeInfo(BaseModel):
    type: str
    family: str
    summary: str
    description: str | None
    parameters: list[TypeParameter]
    example: dict[str, Any]


class Catalog(BaseModel):
    types: list[TypeInfo]


class AuditEntryPublic(FromRecord):
    id: int
    at: datetime
    actor: str
    action: str
    namespace: str | None
    target: str
    detail: dict[str, Any]


class AuditList(BaseModel):
    items: list[AuditEntryPublic]
    next_cursor: str | None


Scope = Annotated[
    str,
    Field(
        pattern=SCOPE_PATTERN.pattern,
        description="`read`, `write:<namespace>`, `write:*` or `admin`",
    ),
]


class TokenCreate(Input):
    scopes: list[Scope] = Field(min_length=1, max_length=32)
    description: str = Field("", max_length=200)


class TokenPublic(FromRecord):
    id: int
    prefix: str = Field(description="the first characters of the secret, to recognize it")
    scopes: list[str]
    description: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


class TokenList(BaseModel):
    items: list[TokenPublic]


class ErrorItem(BaseModel):
    path: str = Field(description="JSON pointer into the request, e.g. /body/definition/steps")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="stable machine-readable error code")
    errors: list[ErrorItem] | None = None


class Health(BaseModel):
    status: Literal["ok"]
