"""Evaluate or validate a definition without storing anything.

Compiling, evaluating and the publish-grid check of /validate are CPU work: they run in
an evaluation thread under the request's deadline (`compute.off_loop`), never on the
event loop."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from ...observability.metrics import Metrics
from ...schedules import (
    MAX_STEP,
    Compiled,
    CostTooLarge,
    EvaluationError,
    InvalidDefinition,
    ScheduleError,
    bind,
    compile_definition,
    is_template,
    normalize_template,
)
from ...schedules.evaluation import digest_of_normalized
from ..compute import COST_BUDGET, checkpoint, current_deadline, off_loop
from ..deps import MetricsDep, Reader
from ..errors import ApiError, from_schedule_error
from ..models import Bound, EvaluateRequest, EvaluateResult, ValidateRequest, ValidateResult
from ..negotiation import JSON, check_size, negotiate
from ..representations import encode, json_bytes, respond
from ..values import bound_error, horizon_of, step_range, unbound_error, valid_step, valid_steps
from ..values import evaluate as evaluate_values

router = APIRouter(prefix="/v1", tags=["language"])


@router.post(
    "/evaluate",
    response_model=EvaluateResult,
    responses={200: {"content": {"application/x-npy": {}, "text/csv": {}}}},
    summary="values of a definition, stored nowhere",
)
async def evaluate(
    request: Request, body: EvaluateRequest, caller: Reader, metrics: MetricsDep
) -> Response:
    """Give exactly one of `step`, `steps` (<= 100,000) or `stop` (with optional `start`,
    `stride`). A single step answers JSON; lists and ranges answer by Accept. A run-length
    template needs `total_steps` (it is bound to it; `digest` is then the bound
    definition's, `template_digest` the template's)."""
    given = [k for k in ("step", "steps", "stop") if getattr(body, k) is not None]
    if len(given) != 1 or (body.stop is None and (body.start, body.stride) != (None, None)):
        raise ApiError(
            "validation_error",
            "give exactly one of step, steps, or stop (with optional start and stride)",
            errors=[{"path": "/body", "message": f"got {given or 'none of them'}"}],
        )
    media = JSON if body.step is not None else negotiate(request.headers.get("accept"))
    return respond(await off_loop(request, lambda: _evaluated(body, media, metrics)), media, {})


def _evaluated(body: EvaluateRequest, media: str, metrics: Metrics) -> bytes:
    """The encoded answer of /v1/evaluate (in an evaluation thread). Raises ApiError 422."""
    spe = body.steps_per_epoch
    definition, template_digest = body.definition, None
    if is_template(definition):
        template_digest = _template(definition, spe)[1]
        definition = _bound(definition, body.total_steps, spe)
    compiled = _compile(definition, check_values=False)
    digests: dict[str, str] = {}
    if template_digest is not None:
        digests = {"template_digest": template_digest, "bound_digest": compiled.digest}
    if body.step is not None:
        step = valid_step(body.step, at="/body/step")
        values = _values(compiled, [step], spe, metrics)
        answer = {"digest": compiled.digest, **digests, "step": step, "lr": float(values[0])}
        return json_bytes(answer)
    payload: dict[str, Any] = dict(digests)
    if body.steps is not None:
        steps = valid_steps(body.steps, at="/body/steps").astype(np.int64)
        payload["steps"] = steps.tolist()
    else:
        span = step_range(body.start, body.stop, body.stride, at="/body")
        check_size(span.count, media, path="/body/stop")
        steps = span.steps()
        payload.update(span.payload())
    values = _values(compiled, steps, spe, metrics)
    checkpoint()
    return encode(media, {"digest": compiled.digest, **payload}, steps, values)


# exclude_defaults: `template` and `bound` appear only for a template (the answer for an
# ordinary definition stays as it was)
@router.post(
    "/validate",
    response_model=ValidateResult,
    response_model_exclude_defaults=True,
    summary="check a definition",
)
async def validate(request: Request, body: ValidateRequest, caller: Reader) -> ValidateResult:
    """The normalized definition, its digest and horizon, and warnings; an invalid
    definition is a 422 problem whose `errors` point into it (as publishing would). A
    run-length template is checked at every plausible length (parts that cannot fit are
    rejected); with `total_steps` its binding is shown (`bound`)."""

    def check() -> ValidateResult:
        if is_template(body.definition):
            return _validate_template(body)
        compiled = _compile(body.definition, check_values=True)
        checkpoint()
        return ValidateResult(
            normalized=compiled.normalized,
            digest=compiled.digest,
            horizon=horizon_of(compiled),
            warnings=warnings(compiled),
        )

    return await off_loop(request, check)


def _validate_template(body: ValidateRequest) -> ValidateResult:
    """/v1/validate of a template: its normalized form and digest, and its binding."""
    spe = body.steps_per_epoch
    normalized, template_digest = _template(body.definition, spe)
    found = ["a run-length template: every lr query must pass total_steps=..."]
    bound = None
    if body.total_steps is not None:
        compiled = _compile(_bound(body.definition, body.total_steps, spe), check_values=True)
        horizon = horizon_of(compiled, steps_per_epoch=spe)
        bound = Bound(
            total_steps=body.total_steps,
            steps_per_epoch=spe,
            definition=compiled.normalized,
            digest=compiled.digest,
            horizon=horizon,
        )
        found += warnings(compiled)
    return ValidateResult(
        normalized=normalized,
        digest=template_digest,
        horizon=None,
        warnings=found,
        template=True,
        bound=bound,
    )


def _template(definition: dict[str, Any], spe: int | None) -> tuple[dict[str, Any], str]:
    """A template's normalized form and digest, after `check_template` (through
    `normalize_template`). Raises ApiError 422 pointing into the request's definition:
    parts that cannot fit, a binding invalid at a plausible length, over the budget."""
    try:
        normalized = normalize_template(definition)
    except InvalidDefinition as exc:
        raise from_schedule_error(exc, at="/body/definition") from None
    return normalized, digest_of_normalized(normalized)


def _bound(definition: dict[str, Any], total_steps: int | None, spe: int | None) -> dict[str, Any]:
    """A template bound to `total_steps`. Raises ApiError 422 without it (at
    /body/total_steps), or when the binding is invalid (pointing into the definition)."""
    if total_steps is None:
        raise unbound_error("the definition", at="/body")
    try:
        bound: dict[str, Any] = bind(definition, total_steps, spe)
        compile_definition(bound, check_values=False)
    except InvalidDefinition as exc:
        raise from_schedule_error(bound_error(exc, total_steps), at="/body/definition") from None
    return bound


def warnings(compiled: Compiled) -> list[str]:
    """Things that are valid but often unintended."""
    found: list[str] = []
    try:
        compiled.evaluate([0])
    except ScheduleError as exc:
        if "steps_per_epoch" in str(exc):
            return [
                "counts epochs without `steps_per_epoch`: every query must pass steps_per_epoch=..."
            ]
        raise
    horizon = horizon_of(compiled)
    if horizon is None:
        found.append("the learning rate never becomes constant (no horizon)")
    end = min(max(horizon or 100_000, 1), MAX_STEP)  # a horizon may lie past 2**53
    sample = np.unique(np.linspace(0, end, 2001).round())
    try:
        values = compiled.evaluate(sample, budget=COST_BUDGET, deadline=current_deadline())
    except ScheduleError:  # e.g. beyond what a cumulative schedule can compute
        return found
    if not values.any():
        found.append("the learning rate is 0 at every sampled step")
    elif values.max() > 1.0:
        found.append(f"the learning rate reaches {values.max():.6g}, above 1.0")
    return found


def _values(compiled: Compiled, steps: Any, spe: int | None, metrics: Metrics) -> np.ndarray:
    """Evaluate; an evaluation error points into the request's definition, like a
    validation error does."""
    try:
        return evaluate_values(
            compiled, steps, steps_per_epoch=spe, metrics=metrics, kind="evaluate"
        )
    except (EvaluationError, CostTooLarge) as exc:
        raise from_schedule_error(exc, at="/body/definition") from None


def _compile(definition: dict[str, Any], *, check_values: bool) -> Compiled:
    """The compiled definition. Raises ApiError 422 pointing into the request's definition."""
    try:
        return compile_definition(
            definition, check_values=check_values, budget=COST_BUDGET, deadline=current_deadline()
        )
    except InvalidDefinition as exc:
        raise from_schedule_error(exc, at="/body/definition") from None
