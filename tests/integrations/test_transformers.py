"""Hugging Face Trainer with a registry schedule, for real (CPU, a tiny torch module, no
download): `StepsizeTrainer` logs the registry's lrs with the alignment of HF's own
schedulers, counts optimizer updates under gradient accumulation, resumes identically
from a checkpoint; `client.publish` takes every `get_scheduler` scheduler."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stepsize
import torch
import transformers
from stepsize import curves
from stepsize.integrations.transformers import StepsizeTrainer

from .conftest import WARMUP_TEMPLATE, Registry

SAMPLES, BATCH, ACCUMULATION, EPOCHS = 64, 2, 2, 3
UPDATES = SAMPLES // BATCH // ACCUMULATION * EPOCHS  # 48 optimizer updates


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.linear(x).squeeze(-1)
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


class Data(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(SAMPLES, 4, generator=g)
        self.y = self.x.sum(dim=1)

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class LoggedLrs(transformers.TrainerCallback):
    """The `learning_rate` the Trainer logs, by `global_step` (optimizer updates)."""

    def __init__(self) -> None:
        self.by_step: dict[int, float] = {}

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        if logs and "learning_rate" in logs:
            self.by_step[state.global_step] = float(logs["learning_rate"])


def train(
    out: Path,
    *,
    schedule: str | None = None,
    client: stepsize.Client | None = None,
    resume: Path | None = None,
    **arguments: Any,
) -> tuple[dict[int, float], transformers.Trainer]:
    """Train the tiny model; the logged lrs by step and the trainer."""
    torch.manual_seed(0)
    args = transformers.TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=BATCH,
        gradient_accumulation_steps=ACCUMULATION,
        num_train_epochs=EPOCHS,
        learning_rate=0.1,
        logging_steps=1,
        save_strategy="steps",
        save_steps=20,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
        **arguments,
    )
    logged = LoggedLrs()
    common: dict[str, Any] = {
        "model": Tiny(),
        "args": args,
        "train_dataset": Data(),
        "callbacks": [logged],
    }
    trainer: transformers.Trainer
    if schedule is None:
        trainer = transformers.Trainer(**common)
    else:
        trainer = StepsizeTrainer(schedule=schedule, client=client, **common)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return logged.by_step, trainer


def test_import_stepsize_does_not_import_transformers() -> None:
    import subprocess

    code = "import stepsize, sys; print('transformers' in sys.modules)"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"


def test_same_alignment_as_hf_own_scheduler(registry: Registry, tmp_path: Path) -> None:
    own, _ = train(tmp_path / "hf", lr_scheduler_type="linear", warmup_steps=5)
    assert sorted(own) == list(range(1, UPDATES + 1))  # one log per optimizer update
    definition = {
        "type": "hf.linear",
        "base_lr": 0.1,
        "num_warmup_steps": 5,
        "num_training_steps": UPDATES,
    }
    registry.publish("trainers/hf-linear", definition)
    ours, _ = train(tmp_path / "ours", schedule="trainers/hf-linear", client=registry.client())
    assert sorted(ours) == sorted(own)
    for step in own:
        assert ours[step] == pytest.approx(own[step], rel=1e-12, abs=1e-15), step


def test_a_template_binds_to_the_run_and_resumes_identically(
    registry: Registry, tmp_path: Path
) -> None:
    registry.publish("trainers/warm", WARMUP_TEMPLATE)
    client = registry.client()
    logged, trainer = train(tmp_path / "run", schedule="trainers/warm", client=client)
    assert isinstance(trainer, StepsizeTrainer) and trainer.stepsize_schedule is not None
    sched = trainer.stepsize_schedule
    # the run's length is optimizer updates: batches / gradient_accumulation_steps
    assert sched.total_steps == UPDATES and sched.ref == "trainers/warm@1"
    assert sched.definition["steps"] == UPDATES // 10 and sched.template_digest is not None
    expected = registry.values("trainers/warm@1", UPDATES, total_steps=UPDATES)
    assert sorted(logged) == list(range(1, UPDATES + 1))
    # logged at update k (global_step k, before the scheduler steps): the lr of step k - 1
    assert [logged[k] for k in range(1, UPDATES + 1)] == expected
    assert expected[UPDATES // 10] == pytest.approx(0.1) and expected[0] == 0.0

    checkpoint = tmp_path / "run" / "checkpoint-20"
    assert (checkpoint / "scheduler.pt").exists()
    saved = torch.load(checkpoint / "scheduler.pt", weights_only=True)
    assert saved["last_epoch"] == 20 and saved["stepsize"]["total_steps"] == UPDATES
    curves.forget_all()  # the resumed run finds its curve again through the client
    resumed, _ = train(
        tmp_path / "resumed",
        schedule="trainers/warm",
        client=registry.client(cache_dir=tmp_path / "fresh-cache"),
        resume=checkpoint,
    )
    assert sorted(resumed) == list(range(21, UPDATES + 1))
    assert all(resumed[k] == logged[k] for k in resumed)


# name -> (num_warmup_steps, scheduler_specific_kwargs): every get_scheduler name the
# registry has a type for (reduce_lr_on_plateau and greedy follow a metric, not a curve)
HF_SCHEDULERS: dict[str, tuple[int, dict[str, Any]]] = {
    "linear": (10, {}),
    "cosine": (10, {"num_cycles": 0.7}),
    "cosine_with_restarts": (10, {"num_cycles": 3}),
    "polynomial": (10, {"lr_end": 1e-4, "power": 2.0}),
    "constant": (0, {}),
    "constant_with_warmup": (10, {}),
    "inverse_sqrt": (10, {"timescale": 30}),
    "cosine_with_min_lr": (10, {"min_lr": 1e-3}),
    "cosine_warmup_with_min_lr": (10, {"min_lr_rate": 0.05, "warmup_lr_rate": 0.1}),
    "warmup_stable_decay": (10, {"num_decay_steps": 30, "decay_type": "1-sqrt"}),
}


@pytest.mark.parametrize("name", sorted(HF_SCHEDULERS))
def test_publish_round_trips_every_get_scheduler(
    registry: Registry, name: str, tmp_path: Path
) -> None:
    total = 100
    warmup, kwargs = HF_SCHEDULERS[name]
    params = torch.nn.Linear(3, 1).parameters()
    # the groups' lr differs from the optimizer's default: base_lr is the initial lr
    optimizer = torch.optim.AdamW([{"params": list(params), "lr": 0.02}], lr=0.03)
    scheduler = transformers.get_scheduler(
        name,
        optimizer=optimizer,
        num_warmup_steps=warmup,
        num_training_steps=total,
        scheduler_specific_kwargs=kwargs,
    )
    hf = []
    for _ in range(total + 20):  # past the end too
        hf.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    client = registry.client()
    published = client.publish(f"trainers/{name.replace('_', '-')}", scheduler)
    assert published.data["definition"]["type"] == f"hf.{name}"
    assert published.data["definition"]["base_lr"] == 0.02
    ours = client.schedule(published.ref, total_steps=total + 20).values(0, total + 20)
    np.testing.assert_allclose(ours, np.array(hf), rtol=1e-9, atol=1e-15)


def test_publish_refuses_other_lambdas(registry: Registry) -> None:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    with pytest.raises(TypeError):
        registry.client().publish("trainers/lambda", scheduler)
