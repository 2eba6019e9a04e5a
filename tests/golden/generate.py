"""Regenerate tests/golden/cases.json: (definition, steps) -> lr, from the frameworks.

Every keras.*, torch.* and hf.* case takes its values from running Keras, torch or
transformers (tests/support/frameworks.py); core cases, which no framework has, take the
evaluator's values and are marked `"source": "evaluator"` (their formulas are tested with
hypothesis in tests/schedules/test_core.py). tests/golden/test_golden.py checks that the
file still equals what the frameworks answer, so it cannot silently rot.

    .venv/bin/python -m tests.golden.generate
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stepsize_server.schedules import TYPE_NAMES, compile_definition

from tests.support.frameworks import framework_values

PATH = Path(__file__).with_name("cases.json")
MAX_STEP = 20_000

# Beyond the catalog's examples: seed schedules and options users ask about.
EXTRA: list[dict[str, Any]] = [
    {
        "type": "keras.ExponentialDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 1000,
        "decay_rate": 0.96,
        "staircase": True,
    },
    {"type": "torch.LambdaLR", "base_lr": 0.1, "lr_lambda": "0.5 ** (epoch // 3)"},
    {"type": "torch.MultiStepLR", "base_lr": 0.1, "milestones": [2, 5, 5], "gamma": 0.1},
    {
        "type": "torch.SequentialLR",
        "base_lr": 0.1,
        "milestones": [30],
        "schedulers": [
            {"type": "torch.LinearLR", "start_factor": 0.1, "total_iters": 30},
            {"type": "torch.CosineAnnealingLR", "T_max": 200, "eta_min": 0.001},
        ],
    },
    {"type": "hf.cosine", "base_lr": 3e-4, "num_warmup_steps": 50, "num_training_steps": 400},
    {"type": "clamp", "min": 1e-5, "schedule": {"type": "cosine", "start": 1e-3, "steps": 1000}},
    {
        "type": "warmup",
        "steps": 100,
        "schedule": {"type": "cosine", "start": 3e-4, "end": 3e-5, "steps": 900},
    },
]


def steps_for(compiled: Any) -> list[int]:
    h = compiled.horizon(steps_per_epoch=10)
    around = [] if h is None else [max(0, h - 1), h, h + 1, 2 * h]
    return sorted({*range(12), 50, 99, 100, 101, 500, 1000, 1001, 5000, *around} - {None})


def build() -> list[dict[str, Any]]:
    cases = []
    definitions = [TYPE_NAMES[name].example for name in sorted(TYPE_NAMES)] + EXTRA
    for definition in definitions:
        compiled = compile_definition(definition)
        steps = [s for s in steps_for(compiled) if s <= MAX_STEP]
        reference = framework_values(compiled.normalized, steps)
        source = "framework"
        if reference is None:
            reference = compiled.evaluate(steps, steps_per_epoch=10).tolist()
            source = "evaluator"
        cases.append(
            {
                "definition": compiled.normalized,
                "steps_per_epoch": 10,
                "steps": steps,
                "lr": reference,
                "source": source,
            }
        )
    return cases


def main() -> None:
    PATH.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
