"""Lightning with a registry schedule, for real (CPU, a tiny module): `lr_scheduler_config`
steps per optimizer update under gradient accumulation, binds a template to
`estimated_stepping_batches`, and a resumed fit continues with identical lrs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import stepsize
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from stepsize import curves
from stepsize.integrations.lightning import lr_scheduler_config

from .conftest import WARMUP_TEMPLATE, Registry

SAMPLES, BATCH, ACCUMULATION, EPOCHS = 32, 2, 2, 3
UPDATES = SAMPLES // BATCH // ACCUMULATION * EPOCHS  # 24 optimizer updates


class Recorder(Logger):
    """Keeps what LearningRateMonitor logs: step (optimizer updates so far) -> lr."""

    def __init__(self) -> None:
        super().__init__()
        self.lrs: dict[int, list[float]] = {}

    @property
    def name(self) -> str:
        return "recorder"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            if key.startswith("lr-") and step is not None:
                self.lrs.setdefault(step, []).append(float(value))


class Tiny(pl.LightningModule):
    def __init__(self, schedule: str, client: stepsize.Client) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.schedule_ref = schedule
        self.stepsize_client = client

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)

    def configure_optimizers(self) -> dict[str, Any]:
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        config = lr_scheduler_config(
            opt, self.schedule_ref, trainer=self.trainer, client=self.stepsize_client
        )
        return {"optimizer": opt, "lr_scheduler": config}

    def train_dataloader(self) -> torch.utils.data.DataLoader[Any]:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(SAMPLES, 4, generator=g)
        data = torch.utils.data.TensorDataset(x, x.sum(dim=1))
        return torch.utils.data.DataLoader(data, batch_size=BATCH)


def fit(
    out: Path, client: stepsize.Client, *, epochs: int = EPOCHS, ckpt: Path | None = None
) -> tuple[Recorder, Tiny]:
    torch.manual_seed(0)
    recorder = Recorder()
    model = Tiny("lightning/warm", client)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        accumulate_grad_batches=ACCUMULATION,
        log_every_n_steps=1,
        logger=recorder,
        callbacks=[
            LearningRateMonitor(logging_interval="step"),
            ModelCheckpoint(dirpath=out, every_n_epochs=1, save_top_k=-1),
        ],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=out,
    )
    trainer.fit(model, ckpt_path=str(ckpt) if ckpt else None)
    return recorder, model


def test_records_the_registry_value_at_every_optimizer_step(
    registry: Registry, tmp_path: Path
) -> None:
    registry.publish("lightning/warm", WARMUP_TEMPLATE)
    recorder, model = fit(tmp_path / "run", registry.client())
    expected = registry.values("lightning/warm@1", UPDATES, total_steps=UPDATES)
    # one optimizer update per two batches: each update's lr is logged at both batches
    assert sorted(recorder.lrs) == list(range(UPDATES))
    for step, seen in recorder.lrs.items():
        assert seen == [expected[step]] * ACCUMULATION, step
    scheduler = model.trainer.lr_scheduler_configs[0]
    assert scheduler.interval == "step" and scheduler.frequency == 1
    assert scheduler.scheduler.last_epoch == UPDATES

    checkpoint = tmp_path / "run" / "epoch=0-step=8.ckpt"
    assert checkpoint.exists(), sorted(p.name for p in (tmp_path / "run").iterdir())
    curves.forget_all()  # the resumed fit finds its curve through a fresh client
    resumed, _ = fit(
        tmp_path / "resumed", registry.client(cache_dir=tmp_path / "fresh"), ckpt=checkpoint
    )
    assert sorted(resumed.lrs) == list(range(8, UPDATES))
    assert all(resumed.lrs[step] == recorder.lrs[step] for step in resumed.lrs)


def test_total_steps_given_or_estimated(registry: Registry) -> None:
    registry.publish("lightning/warm", WARMUP_TEMPLATE)
    client = registry.client()
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    config = lr_scheduler_config(opt, "lightning/warm", total_steps=50, client=client)
    assert config["interval"] == "step" and config["frequency"] == 1
    assert config["scheduler"].stepsize["total_steps"] == 50

    class Estimating:
        estimated_stepping_batches = 70

    config = lr_scheduler_config(opt, "lightning/warm", trainer=Estimating(), client=client)
    assert config["scheduler"].stepsize["total_steps"] == 70
    pinned = client.schedule("lightning/warm", total_steps=30)
    assert lr_scheduler_config(opt, pinned)["scheduler"].stepsize["total_steps"] == 30


def test_clear_errors_without_a_length(registry: Registry) -> None:
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"trainer=self.trainer .* or total_steps=N"):
        lr_scheduler_config(opt, "lightning/warm", client=registry.client())

    class Endless:
        estimated_stepping_batches = float("inf")

    with pytest.raises(ValueError, match=r"estimates inf optimizer steps .* total_steps=N"):
        lr_scheduler_config(opt, "lightning/warm", trainer=Endless(), client=registry.client())


def test_import_stepsize_does_not_import_lightning() -> None:
    code = "import stepsize, sys; print('lightning' in sys.modules or 'torch' in sys.modules)"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"
