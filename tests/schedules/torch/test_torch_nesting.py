"""Composites inside composites, as torch 2.13 runs them (issue 7, item 9).

A ChainedScheduler inside a ChainedScheduler steps its schedulers at its place; a
ChainedScheduler as the scheduler a SequentialLR starts with is started by one plain
`step()` of each of its schedulers (not their constructor's step: ExponentialLR,
PolynomialLR, CosineAnnealingLR and MultiplicativeLR then already apply a factor). Every
reference here is computed by stepping the real torch schedulers. A SequentialLR inside a
ChainedScheduler steps as torch steps it there (its milestone restarts set the lr). The
nestings torch itself fails on, or runs wrongly, are rejected, and each such test also
shows torch failing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from stepsize_server.schedules import InvalidDefinition, compile_definition, evaluate, normalize
from torch.optim import lr_scheduler as S

from tests.schedules.torch.test_torch_parity import T, compare, optimizer, torch_values

Build = Callable[[torch.optim.Optimizer], Any]

# One leaf of each torch type: (definition, builder).
LEAVES: dict[str, tuple[dict, Build]] = {
    "StepLR": (T("StepLR", step_size=3, gamma=0.5), lambda o: S.StepLR(o, 3, 0.5)),
    "MultiStepLR": (
        T("MultiStepLR", milestones=[0, 2, 7], gamma=0.5),
        lambda o: S.MultiStepLR(o, [0, 2, 7], 0.5),
    ),
    "ConstantLR": (
        T("ConstantLR", factor=0.5, total_iters=3),
        lambda o: S.ConstantLR(o, factor=0.5, total_iters=3),
    ),
    "LinearLR": (
        T("LinearLR", start_factor=0.25, total_iters=4),
        lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4),
    ),
    "ExponentialLR": (T("ExponentialLR", gamma=0.9), lambda o: S.ExponentialLR(o, 0.9)),
    "PolynomialLR": (
        T("PolynomialLR", total_iters=4, power=2.0),
        lambda o: S.PolynomialLR(o, total_iters=4, power=2.0),
    ),
    "CosineAnnealingLR": (
        T("CosineAnnealingLR", T_max=6, eta_min=0.001),
        lambda o: S.CosineAnnealingLR(o, T_max=6, eta_min=0.001),
    ),
    "CosineAnnealingLR-T1": (
        T("CosineAnnealingLR", T_max=1, eta_min=0.01),
        lambda o: S.CosineAnnealingLR(o, T_max=1, eta_min=0.01),
    ),
    "MultiplicativeLR": (
        T("MultiplicativeLR", lr_lambda="0.9"),
        lambda o: S.MultiplicativeLR(o, lambda epoch: 0.9),
    ),
    "LambdaLR": (
        T("LambdaLR", lr_lambda="0.5 ** epoch"),
        lambda o: S.LambdaLR(o, lambda epoch: 0.5**epoch),
    ),
    "CyclicLR": (
        T("CyclicLR", base_lr=0.01, max_lr=0.05, step_size_up=3),
        lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.05, step_size_up=3),
    ),
    "OneCycleLR": (
        T("OneCycleLR", max_lr=0.5, total_steps=60),
        lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=60),
    ),
    "CosineAnnealingWarmRestarts": (
        T("CosineAnnealingWarmRestarts", T_0=3, T_mult=2, eta_min=0.01),
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
    ),
}
STEPS = 40


def _chain_first_in_sequence(leaf: str, position: int) -> tuple[dict, Build]:
    d, b = LEAVES[leaf]
    other, build_other = LEAVES["ExponentialLR"]
    inner = [d, other] if position == 0 else [other, d]
    definition = T(
        "SequentialLR",
        base_lr=0.1,
        milestones=[6],
        schedulers=[T("ChainedScheduler", schedulers=inner), T("ExponentialLR", gamma=0.8)],
    )

    def build(o: torch.optim.Optimizer) -> Any:
        first, second = (b, build_other) if position == 0 else (build_other, b)
        chain = S.ChainedScheduler([first(o), second(o)])
        return S.SequentialLR(o, [chain, S.ExponentialLR(o, 0.8)], milestones=[6])

    return definition, build


def _chain_in_chain(leaf: str) -> tuple[dict, Build]:
    d, b = LEAVES[leaf]
    definition = T(
        "ChainedScheduler",
        base_lr=0.1,
        schedulers=[
            T("ExponentialLR", gamma=0.95),
            T("ChainedScheduler", schedulers=[d, T("StepLR", step_size=5, gamma=0.5)]),
        ],
    )

    def build(o: torch.optim.Optimizer) -> Any:
        first = S.ExponentialLR(o, 0.95)  # built before the inner ones, as listed
        inner = S.ChainedScheduler([b(o), S.StepLR(o, 5, 0.5)])
        return S.ChainedScheduler([first, inner])

    return definition, build


def _reference(build: Build, total: int | None = None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about calling step() in order
        return torch_values(build, 0.1, STEPS, total=total)


def _total(leaf: str) -> int | None:
    return 60 if leaf == "OneCycleLR" else None


@pytest.mark.parametrize("position", [0, 1])
@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_chained_scheduler_first_in_a_sequential_lr_equals_torch(leaf, position):
    definition, build = _chain_first_in_sequence(leaf, position)
    compare(f"chain-first-{leaf}-{position}", definition, _reference(build, _total(leaf)))


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_chained_scheduler_inside_a_chained_scheduler_equals_torch(leaf):
    definition, build = _chain_in_chain(leaf)
    compare(f"chain-in-chain-{leaf}", definition, _reference(build, _total(leaf)))


def test_deeper_nesting_equals_torch():
    # A chain of chains, started by a SequentialLR that later switches to a StepLR.
    inner = T("ChainedScheduler", schedulers=[T("ConstantLR", factor=0.5, total_iters=3)])
    chain = T("ChainedScheduler", schedulers=[inner, T("PolynomialLR", total_iters=8)])
    definition = T(
        "SequentialLR",
        base_lr=0.1,
        milestones=[7],
        schedulers=[chain, T("StepLR", step_size=4, gamma=0.5)],
    )

    def build(o: torch.optim.Optimizer) -> Any:
        inner = S.ChainedScheduler([S.ConstantLR(o, factor=0.5, total_iters=3)])
        chain = S.ChainedScheduler([inner, S.PolynomialLR(o, total_iters=8)])
        return S.SequentialLR(o, [chain, S.StepLR(o, 4, 0.5)], milestones=[7])

    compare("chain-chain-seq", definition, _reference(build))
    # The normalized form keeps the nesting; inherited base_lr stays out of it.
    normalized = normalize(definition)
    nested = normalized["schedulers"][0]["schedulers"][0]
    assert nested["type"] == "torch.ChainedScheduler" and "base_lr" not in nested
    assert "base_lr" not in nested["schedulers"][0]


def test_a_chained_scheduler_skipped_by_milestone_zero_is_built_but_never_run():
    definition = T(
        "SequentialLR",
        base_lr=0.1,
        milestones=[0],
        schedulers=[
            T("ChainedScheduler", schedulers=[T("ExponentialLR", gamma=0.9)]),
            T("StepLR", step_size=4, gamma=0.5),
        ],
    )

    def build(o: torch.optim.Optimizer) -> Any:
        chain = S.ChainedScheduler([S.ExponentialLR(o, 0.9)])
        return S.SequentialLR(o, [chain, S.StepLR(o, 4, 0.5)], milestones=[0])

    compare("chain-skipped", definition, _reference(build))


def _errors(definition: dict) -> list[dict]:
    with pytest.raises(InvalidDefinition) as info:
        compile_definition(definition)
    return info.value.errors


def _step_torch(build: Build, n: int = 12) -> list[float]:
    opt = optimizer(0.1)
    scheduler = build(opt)
    out = [scheduler.get_last_lr()[0]]
    for _ in range(n):
        opt.step()
        scheduler.step()
        out.append(scheduler.get_last_lr()[0])
    return out


def test_a_chained_scheduler_restarted_at_a_milestone_is_rejected_as_torch_fails():
    definition = T(
        "SequentialLR",
        base_lr=0.1,
        milestones=[5],
        schedulers=[
            T("StepLR", step_size=4, gamma=0.5),
            T("ChainedScheduler", schedulers=[T("ExponentialLR", gamma=0.9)]),
        ],
    )
    (error,) = _errors(definition)
    assert error["path"] == "/schedulers/1"
    assert error["message"].startswith(
        "torch.SequentialLR restarts this scheduler at milestone 5 with `_update_lr(0)`, "
        "which torch.ChainedScheduler does not implement (torch raises NotImplementedError)"
    )

    def build(o: torch.optim.Optimizer) -> Any:
        chain = S.ChainedScheduler([S.ExponentialLR(o, 0.9)])
        return S.SequentialLR(o, [S.StepLR(o, 4, 0.5), chain], milestones=[5])

    with pytest.raises(NotImplementedError):
        _step_torch(build)


def test_a_sequential_lr_inside_a_sequential_lr_is_rejected_as_torch_misbehaves():
    inner = T(
        "SequentialLR",
        milestones=[2],
        schedulers=[T("ConstantLR", factor=0.5, total_iters=3), T("ExponentialLR", gamma=0.9)],
    )
    for schedulers, path in [
        ([inner, T("StepLR", step_size=4)], "/schedulers/0"),
        ([T("StepLR", step_size=4), inner], "/schedulers/1"),
    ]:
        definition = T("SequentialLR", base_lr=0.1, milestones=[5], schedulers=schedulers)
        errors = _errors(definition)
        assert errors[0]["path"] == path
        assert errors[0]["message"].startswith(
            "a torch.SequentialLR inside a torch.SequentialLR misbehaves in torch: started by "
            "the outer one it runs one step ahead"
        )

    def inner_torch(o: torch.optim.Optimizer) -> Any:
        return S.SequentialLR(
            o, [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, 0.9)], [2]
        )

    # Alone, the inner SequentialLR switches at step 2; started by the outer one, at step 1.
    alone = _step_torch(inner_torch, 4)
    nested = _step_torch(lambda o: S.SequentialLR(o, [inner_torch(o), S.StepLR(o, 4)], [5]), 4)
    assert alone[1] == pytest.approx(0.05) and alone[2] == pytest.approx(0.1)
    assert nested[1] == pytest.approx(0.1)
    with pytest.raises(NotImplementedError):
        _step_torch(lambda o: S.SequentialLR(o, [S.StepLR(o, 4), inner_torch(o)], [5]))


def _sequence_in_chain(leaf: str, position: int) -> tuple[dict, Build]:
    """A SequentialLR holding `leaf` (started at 0, or restarted at milestone 6) inside a
    ChainedScheduler, before and after a StepLR that has halved the lr by then."""
    d, b = LEAVES[leaf]
    other = T("ExponentialLR", gamma=0.95)
    inner = [d, other] if position == 0 else [other, d]
    sequence = T("SequentialLR", milestones=[6], schedulers=inner)
    step = T("StepLR", step_size=4, gamma=0.5)
    definition = T(
        "ChainedScheduler",
        base_lr=0.1,
        schedulers=[sequence, step] if position == 0 else [step, sequence],
    )

    def build(o: torch.optim.Optimizer) -> Any:
        if position == 0:
            seq = S.SequentialLR(o, [b(o), S.ExponentialLR(o, 0.95)], milestones=[6])
            return S.ChainedScheduler([seq, S.StepLR(o, 4, 0.5)])
        first = S.StepLR(o, 4, 0.5)
        seq = S.SequentialLR(o, [S.ExponentialLR(o, 0.95), b(o)], milestones=[6])
        return S.ChainedScheduler([first, seq])

    return definition, build


@pytest.mark.parametrize("position", [0, 1])
@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_sequential_lr_inside_a_chained_scheduler_equals_torch(leaf, position):
    definition, build = _sequence_in_chain(leaf, position)
    compare(f"seq-in-chain-{leaf}-{position}", definition, _reference(build, _total(leaf)))


def test_a_sequential_lr_inside_a_chained_scheduler_equals_torch():
    # The SequentialLR's ConstantLR ends at 3 (lifting the lr the StepLR halved), and its
    # milestone at 2 restarts an ExponentialLR with `_update_lr(0)`: the lr is base_lr
    # there outright, the StepLR's factor so far discarded, exactly as torch steps it.
    inner = T(
        "SequentialLR",
        milestones=[2],
        schedulers=[T("ConstantLR", factor=0.5, total_iters=3), T("ExponentialLR", gamma=0.9)],
    )
    definition = T("ChainedScheduler", base_lr=0.1, schedulers=[inner, T("StepLR", step_size=1)])

    def build(o: torch.optim.Optimizer) -> Any:
        seq = S.SequentialLR(
            o, [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, 0.9)], [2]
        )
        return S.ChainedScheduler([seq, S.StepLR(o, 1)])

    reference = _reference(build)
    compare("seq-in-chain", definition, reference)
    # At 2 the restart sets base_lr and the StepLR then multiplies by 0.1 once: the two
    # factors it applied before are gone (0.01, not 0.1 * 0.1**3).
    assert reference[2] == pytest.approx(0.01)
    # Far steps too: the chain is stepped like torch's recurrence, in chunks.
    far = np.array([0, 70_000, 140_001])
    long_reference = torch_values(build, 0.1, 140_001)[far]
    compare("seq-in-chain-far", definition, long_reference, far)


def test_a_chain_of_a_sequence_started_chain_inside_a_chained_scheduler_equals_torch():
    # ChainedScheduler > SequentialLR > ChainedScheduler (started with one plain step of
    # each of its schedulers) > leaves; the milestone restarts a PolynomialLR.
    chain = T("ChainedScheduler", schedulers=[T("LinearLR", start_factor=0.5, total_iters=3)])
    sequence = T(
        "SequentialLR", milestones=[5], schedulers=[chain, T("PolynomialLR", total_iters=9)]
    )
    definition = T(
        "ChainedScheduler",
        base_lr=0.1,
        schedulers=[sequence, T("MultiplicativeLR", lr_lambda="0.97")],
    )

    def build(o: torch.optim.Optimizer) -> Any:
        inner = S.ChainedScheduler([S.LinearLR(o, start_factor=0.5, total_iters=3)])
        seq = S.SequentialLR(o, [inner, S.PolynomialLR(o, total_iters=9)], milestones=[5])
        return S.ChainedScheduler([seq, S.MultiplicativeLR(o, lambda epoch: 0.97)])

    compare("seq-chain-in-chain", definition, _reference(build))


def test_a_sequential_lr_after_a_scheduler_that_changed_the_lr_is_rejected_as_torch_misbehaves():
    sequence = T(
        "SequentialLR",
        milestones=[5],
        schedulers=[T("ConstantLR", factor=0.5, total_iters=3), T("ExponentialLR", gamma=0.9)],
    )
    definition = T(
        "ChainedScheduler",
        base_lr=0.1,
        schedulers=[T("ConstantLR", factor=0.25, total_iters=2), sequence],
    )
    (error,) = _errors(definition)
    assert error["path"] == "/schedulers/1"
    assert error["message"].startswith(
        "this torch.SequentialLR misbehaves in torch here: its constructor resets the lr to "
        "`initial_lr` (0.1), undoing what the schedulers listed before it in the "
        "torch.ChainedScheduler did when built (the lr was 0.025)"
    )

    def build(o: torch.optim.Optimizer) -> Any:
        first = S.ConstantLR(o, factor=0.25, total_iters=2)
        seq = S.SequentialLR(
            o, [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, 0.9)], [5]
        )
        return S.ChainedScheduler([first, seq])

    # torch: the first ConstantLR's factor is undone at once, and when it ends at step 2
    # it divides by it anyway: the lr is 4 times base_lr (0.1) at steps 2 to 4.
    lrs = _step_torch(build, 6)
    assert lrs[0] == pytest.approx(0.05)  # not 0.1 * 0.25 * 0.5
    assert lrs[2:5] == pytest.approx([0.2, 0.4, 0.4])
    # Listed first, the same SequentialLR is valid; a StepLR before it changes nothing
    # when built, so it is valid there too.
    evaluate(
        T("ChainedScheduler", base_lr=0.1, schedulers=[sequence, T("StepLR", step_size=2)]), [9]
    )
    evaluate(
        T("ChainedScheduler", base_lr=0.1, schedulers=[T("StepLR", step_size=2), sequence]), [9]
    )


def test_a_sequential_lr_in_a_chain_a_sequential_lr_starts_is_rejected_as_torch_misbehaves():
    inner = T(
        "SequentialLR",
        milestones=[2],
        schedulers=[T("ConstantLR", factor=0.5, total_iters=3), T("ExponentialLR", gamma=0.9)],
    )
    chain = T("ChainedScheduler", schedulers=[inner])
    definition = T(
        "SequentialLR", base_lr=0.1, milestones=[5], schedulers=[chain, T("StepLR", step_size=4)]
    )
    (error,) = _errors(definition)
    assert error["path"] == "/schedulers/0/schedulers/0"
    assert "runs one step ahead (its milestones come a step early)" in error["message"]

    def inner_torch(o: torch.optim.Optimizer) -> Any:
        return S.SequentialLR(
            o, [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, 0.9)], [2]
        )

    def build(o: torch.optim.Optimizer) -> Any:
        return S.SequentialLR(o, [S.ChainedScheduler([inner_torch(o)]), S.StepLR(o, 4)], [5])

    # Alone the inner SequentialLR switches at step 2; inside the started chain, at step 1.
    alone, nested = _step_torch(inner_torch, 3), _step_torch(build, 3)
    assert alone[1] == pytest.approx(0.05) and alone[2] == pytest.approx(0.1)
    assert nested[1] == pytest.approx(0.1)


def test_a_polynomial_lr_that_torch_would_divide_by_zero_is_rejected():
    chain = T("ChainedScheduler", schedulers=[T("PolynomialLR", total_iters=0)])
    definition = T(
        "SequentialLR", base_lr=0.1, milestones=[5], schedulers=[chain, T("StepLR", step_size=4)]
    )
    (error,) = _errors(definition)
    assert error["path"] == "/schedulers/0/schedulers/0/total_iters"
    assert error["message"].startswith("Argument `total_iters` must be > 0 here")

    def build(o: torch.optim.Optimizer) -> Any:
        chain = S.ChainedScheduler([S.PolynomialLR(o, total_iters=0)])
        return S.SequentialLR(o, [chain, S.StepLR(o, 4)], milestones=[5])

    with pytest.raises(ZeroDivisionError):
        _step_torch(build)
    # Standalone, a PolynomialLR with total_iters=0 is fine in torch and here.
    alone = T("ChainedScheduler", base_lr=0.1, schedulers=[T("PolynomialLR", total_iters=0)])
    assert evaluate(alone, [0, 1, 2]).tolist() == [0.1, 0.1, 0.1]
