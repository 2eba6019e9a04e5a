"""stepsize: learning-rate schedules from the registry, for Keras and PyTorch.

    import stepsize
    client = stepsize.Client()                     # STEPSIZE_URL, STEPSIZE_TOKEN, ...
    sched = client.schedule("vision/resnet50:prod", total_steps=100_000)
    sched(1000)                                    # float, from the cache

Importing this package imports neither torch, TensorFlow nor Keras: `sched.keras()`,
`sched.torch_lambda()` and `sched.torch_scheduler()` import them when called.
"""

__version__ = "0.1.0"

from .client import Client, Published, set_default_client
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
from .refs import Ref
from .schedule import Schedule
from .transport import Retry

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
