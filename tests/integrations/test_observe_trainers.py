"""The lr really applied, observed inside real trainers (issue 11 item 2): Hugging Face's
Trainer and Lightning, gradient accumulation and a resume from a checkpoint included,
report every optimizer update checked and 0 mismatches in their run records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from stepsize import curves

from tests.client._observe_jobs import quick_runs  # noqa: F401 (autouse)

from . import test_lightning as lightning_case
from . import test_transformers as hf_case
from .conftest import WARMUP_TEMPLATE, Registry


def record_of(registry: Registry, scheduler: Any) -> dict[str, Any]:
    """The run record of the job `scheduler` (a RegistryLR) observed, once closed."""
    run = scheduler.observer.run
    assert run is not None
    run.close(timeout=30)
    assert run.id is not None, "the run was not registered"
    r = httpx.get(f"{registry.url}/v1/runs/{run.id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def assert_clean(got: dict[str, Any], observed: int, progress: int) -> None:
    assert (got["observed"], got["mismatches"], got["progress"]) == (observed, 0, progress)
    assert got["first_mismatch"] is None and got["framework"] == "torch"
    assert got["status"] == "finished"
    assert not [e for e in got["events"] if e["kind"] == "mismatch"]


def test_hf_trainer_updates_are_observed_without_mismatch(
    registry: Registry, tmp_path: Path
) -> None:
    registry.publish("observe/hf", WARMUP_TEMPLATE)
    updates = hf_case.UPDATES
    _, trainer = hf_case.train(tmp_path / "run", schedule="observe/hf", client=registry.client())
    assert_clean(record_of(registry, trainer.lr_scheduler), updates, updates - 1)

    curves.forget_all()
    _, resumed = hf_case.train(
        tmp_path / "resumed",
        schedule="observe/hf",
        client=registry.client(cache_dir=tmp_path / "fresh-cache"),
        resume=tmp_path / "run" / "checkpoint-20",
    )
    # AdamW's step count and the scheduler's counter, both restored: updates 20..47
    assert_clean(record_of(registry, resumed.lr_scheduler), updates - 20, updates - 1)


def test_lightning_updates_are_observed_without_mismatch(
    registry: Registry, tmp_path: Path
) -> None:
    registry.publish("lightning/warm", WARMUP_TEMPLATE)
    updates = lightning_case.UPDATES
    _, model = lightning_case.fit(tmp_path / "run", registry.client())
    scheduler = model.trainer.lr_scheduler_configs[0].scheduler
    assert_clean(record_of(registry, scheduler), updates, updates - 1)

    curves.forget_all()
    _, resumed = lightning_case.fit(
        tmp_path / "resumed",
        registry.client(cache_dir=tmp_path / "fresh"),
        ckpt=tmp_path / "run" / "epoch=0-step=8.ckpt",
    )
    scheduler = resumed.trainer.lr_scheduler_configs[0].scheduler
    assert_clean(record_of(registry, scheduler), updates - 8, updates - 1)
