"""The store's exception tree. Each class has a stable `code`; the API maps codes to
HTTP statuses (`stepsize_server.api.errors`).

StoreError
 ├── NotFound
 │    ├── ScheduleNotFound
 │    ├── VersionNotFound
 │    ├── TagNotFound
 │    └── TokenNotFound
 ├── ScheduleArchived      a write to an archived schedule
 ├── ArchivedUnpinned      `latest` or a tag of an archived schedule
 └── TagPreconditionFailed If-Match does not name the tag's current version
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by `stepsize_server.store`."""

    code = "store_error"


class NotFound(StoreError):
    code = "not_found"


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(f"no schedule {namespace}/{name}")


class VersionNotFound(NotFound):
    code = "version_not_found"

    def __init__(self, namespace: str, name: str, version: int, latest: int) -> None:
        super().__init__(
            f"schedule {namespace}/{name} has no version {version} (versions are 1..{latest})"
            if latest
            else f"schedule {namespace}/{name} has no versions yet"
        )


class TagNotFound(NotFound):
    code = "tag_not_found"

    def __init__(self, namespace: str, name: str, tag: str) -> None:
        super().__init__(f"schedule {namespace}/{name} has no tag {tag!r}")


class TokenNotFound(NotFound):
    code = "token_not_found"

    def __init__(self, token_id: int) -> None:
        super().__init__(f"no token {token_id}")


class ScheduleArchived(StoreError):
    code = "schedule_archived"

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(f"schedule {namespace}/{name} is archived and accepts no changes")


class ArchivedUnpinned(StoreError):
    code = "archived_unpinned"

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"schedule {namespace}/{name} is archived: only pinned versions "
            f"({namespace}/{name}@N, version=N) still resolve"
        )


class TagPreconditionFailed(StoreError):
    code = "precondition_failed"

    def __init__(self, tag: str, current: int | None, if_match: str | None) -> None:
        self.current = current
        where = f"points to version {current}" if current is not None else "does not exist"
        hint = (
            f"; send If-Match: {current} to change it"
            if current is not None
            else "; send no If-Match to create it"
        )
        got = "no If-Match" if if_match is None else f"If-Match: {if_match}"
        super().__init__(f"tag {tag!r} {where}, got {got}{hint}")
