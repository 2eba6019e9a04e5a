"""The golden file through the real server and both shims (torch and Keras).

Every `(definition, steps) -> lr` case of tests/golden/cases.json is published to the
live server; the torch lambda (times its base lr), the torch LRScheduler (resumed at each
step with `last_epoch`) and the Keras schedule (eager and inside one tf.function) must
give the golden values within the case's tolerance (Keras: float32 rounding on top).
"""

from __future__ import annotations

import numpy as np
import pytest
import stepsize
import tensorflow as tf
import torch

from tests.golden import case_id, load_cases, relative_error, tolerance

CASES = load_cases()


@pytest.fixture(scope="module")
def published(live) -> dict[str, str]:
    client = live.client()
    refs = {}
    for i, case in enumerate(CASES):
        refs[case_id(case)] = client.publish(f"golden/case-{i}", case["definition"]).ref
    return refs


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_golden_case_through_both_shims(live, published, case):
    client = live.client()
    stepsize.set_default_client(client)
    steps, want = case["steps"], np.asarray(case["lr"])
    sched = client.schedule(
        published[case_id(case)], total_steps=max(steps), steps_per_epoch=case["steps_per_epoch"]
    )
    tol = tolerance(case)
    assert relative_error([sched(s) for s in steps], want) <= tol

    lam = sched.torch_lambda(0.1)
    assert relative_error([0.1 * lam(s) for s in steps], want) <= max(tol, 2.3e-16)
    got = []
    for s in steps:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        got.append(sched.torch_scheduler(opt, last_epoch=s).get_last_lr()[0])
    assert relative_error(got, want) <= tol

    keras_lr = sched.keras()
    f32 = max(tol, 6e-8)  # float32 rounding of the registry's float64 value
    assert relative_error([float(keras_lr(s)) for s in steps], want) <= f32
    traced = tf.function(lambda t: tf.map_fn(keras_lr, t, fn_output_signature=tf.float32))
    assert relative_error(traced(tf.constant(steps, tf.int64)).numpy(), want) <= f32
