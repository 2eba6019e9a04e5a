"""Run-length templates (SPEC 3.6): step counts written as fractions of the run or epochs.

Every parameter typed `StepCount` (a step or epoch count, in every family) accepts an
integer, `"<x>dur"` (0 < x <= 1: `floor(x * total_steps)`) or `"<n>ep"` (n > 0 epochs:
`floor(n * steps_per_epoch)`). A definition holding such a string is a template: it has
its own normalized form (the strings kept, canonically written) and digest, and
`bind(definition, total_steps, steps_per_epoch=...)` turns it into an ordinary definition.
Parsing, evaluating or taking the horizon of an unbound template raises UnboundTemplate.

`evaluation.check_template` rejects a template whose parts cannot fit in the run (durations laid end
to end past `1dur`, from the layout each type declares: `Node.child_offsets`,
`Node.consecutive_steps`) or that binds to an invalid definition, or one with a bad value,
for a plausible run length (`PLAUSIBLE_TOTALS`).
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from .errors import ErrorItem, InvalidDefinition, UnboundTemplate, pointer
from .node import Node
from .params import StepCount
from .registry import TYPE_NAMES

PLAUSIBLE_TOTALS = (100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
"""The run lengths a template is checked at (a run of fewer than 100 steps is no training
run a fraction of which makes sense; 10,000,000 is the largest `.npy` range)."""

PLAUSIBLE_EPOCHS = (1, 100)
"""`steps_per_epoch` values a template holding "<n>ep" is checked with, when not given."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*(dur|ep)\s*$")
_NUMBER = re.compile(r"^\s*((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)")


@dataclass(frozen=True)
class Duration:
    """One duration string of a template: where it is, its fraction or epochs."""

    path: str
    amount: Decimal  # exact, as written: floor(0.29 * 100) is 29, not float's 28
    unit: str  # "dur" or "ep"

    @property
    def text(self) -> str:
        """The canonical spelling ("0.10dur" is "0.1dur", "2.0ep" is "2ep")."""
        return format(self.amount.normalize(), "f") + self.unit

    def steps(self, total_steps: int, steps_per_epoch: int | None) -> int:
        """floor(x * total_steps) for "<x>dur", floor(n * steps_per_epoch) for "<n>ep"."""
        scale = total_steps if self.unit == "dur" else steps_per_epoch
        assert scale is not None
        return int((self.amount * scale).to_integral_value(rounding=ROUND_FLOOR))


def is_duration(value: Any) -> bool:
    """Whether `value` is written like a duration ("<x>dur" or "<n>ep")."""
    return isinstance(value, str) and _DURATION.match(value) is not None


def durations(definition: Any) -> list[Duration]:
    """Every duration string in `definition`'s step-count parameters, in document order.

    Raises InvalidDefinition for a duration out of range ("0dur", "1.5dur", "0ep")."""
    found: list[Duration] = []
    errors: list[ErrorItem] = []
    for path, value in _step_count_values(definition):
        if not is_duration(value):
            continue
        amount = _amount(value)
        unit = "dur" if value.strip().endswith("dur") else "ep"
        if unit == "dur" and not 0 < amount <= 1:
            errors.append({"path": path, "message": _bad(path, value, "a fraction in (0, 1]")})
        elif unit == "ep" and not 0 < amount <= 2**53:
            errors.append({"path": path, "message": _bad(path, value, "> 0 epochs")})
        else:
            found.append(Duration(path, amount, unit))
    if errors:
        raise InvalidDefinition(errors)
    return found


def is_template(definition: Any) -> bool:
    """Whether `definition` holds a duration ("<x>dur", "<n>ep") in a step-count parameter.

    Never raises (a malformed definition is simply not a template)."""
    return any(is_duration(value) for _, value in _step_count_values(definition))


def check_unbound(definition: Any) -> None:
    """Raise UnboundTemplate (pointing at each duration) if `definition` is a template."""
    found = [(path, value) for path, value in _step_count_values(definition)]
    items = [(p, v) for p, v in found if is_duration(v)]
    if items:
        raise UnboundTemplate(
            [
                {
                    "path": path,
                    "message": f"{value!r} is a run-length duration: this definition is a "
                    "template; bind it with `total_steps` (and `steps_per_epoch` for "
                    "epochs) before evaluating it",
                }
                for path, value in items
            ]
        )


def bind(definition: Any, total_steps: int, steps_per_epoch: int | None = None) -> Any:
    """The ordinary definition `definition` stands for in a run of `total_steps` steps:
    each "<x>dur" is `floor(x * total_steps)`, each "<n>ep" `floor(n * steps_per_epoch)`.
    A definition without durations is returned unchanged (a copy).

    Raises ValueError-based InvalidDefinition: a duration out of range; "<n>ep" without
    `steps_per_epoch` (at its pointer); `total_steps`/`steps_per_epoch` not a positive
    integer (path "")."""
    _positive(total_steps, "total_steps")
    if steps_per_epoch is not None:
        _positive(steps_per_epoch, "steps_per_epoch")
    found = durations(definition)
    missing = [d for d in found if d.unit == "ep" and steps_per_epoch is None]
    if missing:
        raise InvalidDefinition(
            [
                {
                    "path": d.path,
                    "message": f"{d.text!r} counts epochs: binding it needs `steps_per_epoch`",
                }
                for d in missing
            ]
        )
    bound = _copy(definition)
    for d in found:
        set_at(bound, d.path, d.steps(total_steps, steps_per_epoch))
    return bound


# -- the layout of the parts in the run --------------------------------------------------


def fit_errors(definition: Any) -> list[ErrorItem]:
    """Durations laid end to end past the end of the run, from each type's layout."""
    errors: list[ErrorItem] = []
    _fit(definition, "", 0.0, errors)
    return errors


def _fraction(value: Any) -> float:
    """A "<x>dur" as x; anything else (integers, epochs) as 0: its share is unknown."""
    if is_duration(value) and value.strip().endswith("dur"):
        return float(_amount(value))
    return 0.0


def _amount(value: str) -> Decimal:
    match = _NUMBER.match(value)
    assert match is not None  # `is_duration(value)`
    return Decimal(match.group(1))


def _fit(data: Any, path: str, start: float, errors: list[ErrorItem]) -> None:
    model = _model(data)
    if model is None:
        for key, value in _items(data):
            _fit(value, path + pointer(key), start, errors)
        return
    # Fields laid end to end inside the node (a warmup, then the decay after it).
    at = start
    for name in model.consecutive_steps:
        share = _fraction(data.get(name))
        at += share
        _check_end(path + pointer(name), data.get(name), at, start, errors)
    for name, value in data.items():
        if name == "type" or name in model.consecutive_steps:
            continue
        if name in model.child_offsets:
            offset_field = model.child_offsets[name]
            offsets = data.get(offset_field)
            if isinstance(value, list):
                for i, child in enumerate(value):
                    shift = 0.0
                    if i and isinstance(offsets, list) and i - 1 < len(offsets):
                        shift = _fraction(offsets[i - 1])
                    _fit(child, path + pointer(name, i), start + shift, errors)
            else:
                _fit(value, path + pointer(name), start + _fraction(offsets), errors)
        elif isinstance(value, dict | list):
            if name in model.model_fields and _is_step_list(model, name):
                for i, item in enumerate(value):
                    _check_end(
                        path + pointer(name, i), item, start + _fraction(item), start, errors
                    )
            else:
                _fit(value, path + pointer(name), start, errors)
        elif _is_step_field(model, name):
            _check_end(path + pointer(name), value, start + _fraction(value), start, errors)


def _check_end(path: str, value: Any, end: float, start: float, errors: list[ErrorItem]) -> None:
    if _fraction(value) and end > 1 + 1e-12:
        errors.append(
            {
                "path": path,
                "message": f"the parts of this template do not fit in the run: {value!r} "
                f"starts at {_show(start)}dur and would end at {_show(end)}dur, past the "
                "end of the run (1dur); shorten the durations so they add up to at most 1",
            }
        )


def _show(x: float) -> str:
    return f"{round(x, 9):g}"


# -- step-count fields of the raw definition ---------------------------------------------


def _model(data: Any) -> type[Node] | None:
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        return TYPE_NAMES.get(data["type"])
    return None


def _items(data: Any) -> list[tuple[str | int, Any]]:
    if isinstance(data, dict):
        return list(data.items())
    if isinstance(data, list):
        return list(enumerate(data))
    return []


def _step_count_values(definition: Any) -> list[tuple[str, Any]]:
    """(JSON pointer, raw value) of every step-count parameter value in `definition`."""
    out: list[tuple[str, Any]] = []
    stack: list[tuple[Any, str]] = [(definition, "")]
    while stack:
        data, path = stack.pop()
        model = _model(data)
        for key, value in reversed(_items(data)):
            at = path + pointer(key)
            if model is not None and isinstance(key, str) and _is_step_field(model, key):
                out.append((at, value))
            elif model is not None and isinstance(key, str) and _is_step_list(model, key):
                if isinstance(value, list):
                    out.extend((at + pointer(i), item) for i, item in enumerate(value))
            elif isinstance(value, dict | list):
                stack.append((value, at))
    out.sort(key=lambda item: _order(definition, item[0]))
    return out


def _order(definition: Any, path: str) -> list[int]:
    """Document order of a pointer (keys by their position in their object)."""
    order: list[int] = []
    data = definition
    for part in path.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(data, list):
            order.append(int(key))
            data = data[int(key)]
        else:
            order.append(list(data).index(key))
            data = data[key]
    return order


def _field(model: type[Node], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _is_step_field(model: type[Node], key: str) -> bool:
    info = _field(model, key)
    return info is not None and (
        any(isinstance(m, StepCount) for m in info.metadata) or _holds_step(info.annotation)
    )


def _is_step_list(model: type[Node], key: str) -> bool:
    info = _field(model, key)
    if info is None or typing.get_origin(info.annotation) is not list:
        return False
    return _holds_step(typing.get_args(info.annotation)[0])


def _holds_step(annotation: Any) -> bool:
    """Whether `annotation` is a StepCount type (possibly optional)."""
    if any(isinstance(m, StepCount) for m in getattr(annotation, "__metadata__", ())):
        return True
    if typing.get_origin(annotation) in (typing.Union, type(int | None)):
        return any(_holds_step(a) for a in typing.get_args(annotation))
    return False


# -- helpers -----------------------------------------------------------------------------


def reference_epoch(found: list[Duration]) -> int | None:
    """The `steps_per_epoch` a template's normalized form is computed with (its epochs
    are put back as strings, so any positive value gives the same form)."""
    return PLAUSIBLE_EPOCHS[0] if any(d.unit == "ep" for d in found) else None


def _positive(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidDefinition.at("", f"`{name}` must be a positive integer. Received: {value!r}")


def _bad(path: str, value: str, rule: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return f"Argument `{name}` must be {rule}. Received: {name}={value!r}"


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def set_at(data: Any, path: str, value: Any) -> None:
    """Replace the value at JSON pointer `path` inside `data` (in place)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    for part in parts[:-1]:
        data = data[int(part)] if isinstance(data, list) else data[part]
    last = parts[-1]
    if isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value
