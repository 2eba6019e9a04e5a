"""Demo schedules for `stepsize-server load-demo`: one per family, including the seeds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .schedules import InvalidDefinition, compile_definition
from .store import Database
from .store.errors import ScheduleArchived, TagPreconditionFailed
from .store.tags import set_tag
from .store.versions import publish_version

ACTOR = "cli:load-demo"
NAMESPACE = "demo"

DEMOS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "keras-exponential-staircase",
        "Keras ExponentialDecay, staircase: 0.1 * 0.96 ** (step // 1000)",
        {
            "type": "keras.ExponentialDecay",
            "initial_learning_rate": 0.1,
            "decay_steps": 1000,
            "decay_rate": 0.96,
            "staircase": True,
        },
    ),
    (
        "cosine-min-lr",
        "cosine from 1e-3 over 10,000 steps, never below min_lr 1e-5",
        {
            "type": "clamp",
            "min": 1e-5,
            "schedule": {"type": "cosine", "start": 1e-3, "steps": 10000},
        },
    ),
    (
        "torch-lambda-step",
        "torch LambdaLR 0.5 ** (epoch // 3), 100 steps per epoch",
        {
            "type": "epochs",
            "steps_per_epoch": 100,
            "schedule": {
                "type": "torch.LambdaLR",
                "base_lr": 0.1,
                "lr_lambda": "0.5 ** (epoch // 3)",
            },
        },
    ),
    (
        "hf-cosine",
        "transformers get_scheduler('cosine'), 500 warmup steps of 10,000",
        {
            "type": "hf.cosine",
            "base_lr": 3e-4,
            "num_warmup_steps": 500,
            "num_training_steps": 10000,
        },
    ),
    (
        "llm-warmup-cosine",
        "LLM pre-training: 2,000 linear warmup steps, then cosine 3e-4 -> 3e-5",
        {
            "type": "warmup",
            "steps": 2000,
            "schedule": {"type": "cosine", "start": 3e-4, "end": 3e-5, "steps": 98000},
        },
    ),
    (
        "resnet-piecewise",
        "ResNet step schedule: 0.1, /10 at epochs 30 and 60 (390 steps per epoch)",
        {
            "type": "epochs",
            "steps_per_epoch": 390,
            "schedule": {"type": "piecewise", "boundaries": [30, 60], "values": [0.1, 0.01, 0.001]},
        },
    ),
)


def load(db: Database) -> Iterator[str]:
    """Publish each demo (a no-op when its latest version has the same digest) and tag it
    `prod` if untagged. Yields one line per demo; a demo whose type is not available in
    this build, or that the language rejects, is skipped with the reason."""
    for name, description, definition in DEMOS:
        ref = f"{NAMESPACE}/{name}"
        try:
            compiled = compile_definition(definition)
        except (InvalidDefinition, NotImplementedError) as exc:
            yield f"skipped {ref}: {exc or type(exc).__name__}"
            continue
        try:
            result = publish_version(
                db,
                namespace=NAMESPACE,
                name=name,
                definition=compiled.normalized,
                digest=compiled.digest,
                description=description,
                labels={"demo": "true"},
                actor=ACTOR,
            )
        except ScheduleArchived:
            yield f"skipped {ref}: archived"
            continue
        version = result.record.version
        # Already tagged: leave the user's choice alone.
        with contextlib.suppress(TagPreconditionFailed):
            set_tag(
                db,
                namespace=NAMESPACE,
                name=name,
                tag="prod",
                version=version,
                if_match=None,
                actor=ACTOR,
            )
        state = "published" if result.created else "unchanged"
        yield f"{state} {ref}@{version}"
