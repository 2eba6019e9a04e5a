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
    keras.py torch.py distributed.py   the shims, on the pinning layer
    pinning.py                     Identity, Pinning (resolve once, load curves), curve_for
    settings.py                    ClientSettings: arguments, STEPSIZE_* variables
    curves.py  prefetch.py         values in memory, chunk loading, fetches ahead
    registry.py                    the REST calls
    transport.py  disk.py          httpx with timeouts and retries; the disk cache
    errors.py refs.py steps.py version.py   the exception tree, references, step checks
"""

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
from .schedule import Schedule
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
    "set_default_client",
]
