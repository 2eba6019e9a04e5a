"""The golden file over real HTTP: every case published, then queried every way."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest

from tests.golden import case_id, load_cases, relative_error, tolerance

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_http_answers_golden_values(case, admin: httpx.Client, anon: httpx.Client, ns: str):
    name = f"golden-{case_id(case).split('-')[-1]}"
    published = admin.post(
        f"/v1/schedules/{ns}/{name}/versions", json={"definition": case["definition"]}
    )
    assert published.status_code == 201, published.text
    version = published.json()["version"]
    base = f"/v1/schedules/{ns}/{name}/lr"
    spe = case["steps_per_epoch"]

    posted = anon.post(
        base, params={"version": version, "steps_per_epoch": spe}, json={"steps": case["steps"]}
    )
    assert posted.status_code == 200, posted.text
    assert relative_error(posted.json()["lr"], case["lr"]) <= tolerance(case)

    singles = [
        anon.get(base, params={"step": s, "version": version, "steps_per_epoch": spe}).json()["lr"]
        for s in case["steps"][:12]
    ]
    assert relative_error(singles, case["lr"][:12]) <= tolerance(case)

    stop = max(case["steps"]) + 1
    ranged = anon.get(
        base,
        params={"start": 0, "stop": stop, "version": version, "steps_per_epoch": spe},
        headers={"Accept": "application/x-npy"},
    )
    assert ranged.status_code == 200, ranged.text
    curve = np.load(io.BytesIO(ranged.content))
    assert curve.dtype == np.float64 and curve.shape == (stop,)
    assert relative_error(curve[case["steps"]], case["lr"]) <= tolerance(case)
