"""The golden file: (definition, steps) -> lr cases shared by every layer's tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

PATH = Path(__file__).with_name("cases.json")

# SPEC 3: Keras within 1e-6 relative, torch and transformers within 1e-9.
TOLERANCE = {"keras": 1e-6, "torch": 1e-9, "hf": 1e-9}
CORE_TOLERANCE = 1e-12


def load_cases() -> list[dict[str, Any]]:
    return json.loads(PATH.read_text())


def case_id(case: dict[str, Any]) -> str:
    text = json.dumps(case["definition"], sort_keys=True).encode()
    return case["definition"]["type"] + "-" + hashlib.sha256(text).hexdigest()[:6]


def tolerance(case: dict[str, Any]) -> float:
    family = case["definition"]["type"].split(".", 1)[0]
    return TOLERANCE.get(family, CORE_TOLERANCE)


def relative_error(got: Any, want: Any) -> float:
    """Worst |got - want| / |want|, with want == 0 compared against 1e-15 absolute."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = np.maximum(np.abs(want), 1e-15)
    return float(np.max(np.abs(got - want) / scale)) if want.size else 0.0
