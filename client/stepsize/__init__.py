"""stepsize: learning-rate schedules from the registry, for Keras and PyTorch.

    import stepsize
    client = stepsize.Client()                     # STEPSIZE_URL, STEPSIZE_TOKEN, ...
    sched = client.schedule("vision/resnet50:prod", total_steps=100_000)
    sched(1000)                                    # float, from the cache

Importing this package imports neither torch, TensorFlow nor Keras: `sched.keras()`,
`sched.torch_lambda()` and `sched.torch_scheduler()` import them when called.

The layers, each importing only those below it (tests/test_import_cycles.py checks):

    client.py                      Client, a thin facade; cli.py, the stepsize command
    schedule.py  publishing.py     the pinned Schedule; definitions to publish
    follow.py  agreement.py        follow=True: adopting amendments, on every rank or none
    keras.py torch.py distributed.py   the shims, on the pinning layer; one fetch per job
    keras_graph.py                 the Keras shim's tables, recorder, graph errors
    torch_observe.py               the torch optimizer hook of observation
    observe.py                     the lr each optimizer update applied, checked
    track.py                       what a schedule's shims follow now (switched by follow)
    runs.py                        the run: registration and heartbeats in the background
    pinning.py                     Identity, Pinning (resolve once, load curves), curve_for
    settings.py                    ClientSettings: arguments, STEPSIZE_* variables
    curves.py  prefetch.py         values in memory, chunk loading, fetches ahead
    registry.py                    the REST calls
    transport.py  disk.py          httpx with timeouts and retries; the disk cache
    errors.py refs.py steps.py version.py   the exception tree, references, step checks
    torch_definitions.py           definition_from_torch (re-exported by stepsize.torch)
"""

import importlib.abc
import importlib.util
import logging
import sys
import types
from typing import Any

from .client import Client, set_default_client
from .disk import DiskCache
from .errors import (
    AuthError,
    CacheError,
    Conflict,
    InvalidRequest,
    NotFound,
    ScheduleUnavailable,
    ServerError,
    StepsizeError,
    Unreachable,
)
from .publishing import Published
from .refs import Ref
from .schedule import Schedule, restore
from .transport import Retry
from .version import __version__

__all__ = [
    "AuthError",
    "CacheError",
    "Client",
    "Conflict",
    "DiskCache",
    "InvalidRequest",
    "NotFound",
    "Published",
    "Ref",
    "Retry",
    "Schedule",
    "ScheduleUnavailable",
    "ServerError",
    "StepsizeError",
    "Unreachable",
    "__version__",
    "restore",
    "set_default_client",
]


class _RegisterKerasShim(importlib.abc.MetaPathFinder):
    """Imports `stepsize.keras` right after `keras` is imported, so that
    `keras.models.load_model` finds `stepsize>RegistrySchedule` (Keras imports only keras
    packages by a config's `module`) while `import stepsize` imports no framework."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        for finder in sys.meta_path:  # the finder that would locate keras without this one
            find = getattr(finder, "find_spec", None)
            spec = None if finder is self or find is None else find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_keras = loader.exec_module

        def exec_then_register(module: types.ModuleType) -> None:
            exec_keras(module)
            if self in sys.meta_path:  # keras is imported once: the hook is done
                sys.meta_path.remove(self)
            _import_keras_shim()

        # a spec that is only looked at (TensorFlow locates keras) never runs this
        loader.exec_module = exec_then_register
        return spec


def _import_keras_shim() -> None:
    try:
        importlib.import_module("stepsize.keras")
    except Exception:  # a broken keras fails where it is used, not in this hook
        logging.getLogger(__name__).debug("stepsize.keras not registered", exc_info=True)


if "keras" in sys.modules:
    _import_keras_shim()
else:
    sys.meta_path.insert(0, _RegisterKerasShim())
