"""Server configuration: one pydantic-settings class read from `STEPSIZE_*` variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every server option. Each field `x` is read from the variable `STEPSIZE_X`.

    Example: `STEPSIZE_DATABASE_URL=postgresql://u:p@db/stepsize STEPSIZE_PUBLIC_READ=false
    stepsize-server serve`. Invalid values raise pydantic's `ValidationError` at start-up.
    """

    model_config = SettingsConfigDict(env_prefix="STEPSIZE_", extra="ignore", frozen=True)

    database_url: str = Field(
        "sqlite:///./data/stepsize.db",
        description="SQLAlchemy URL: sqlite:///path (the directory is created) or "
        "postgresql://user:password@host/db",
    )
    public_read: bool = Field(True, description="anonymous reads; false requires a token")
    host: str = Field("127.0.0.1", description="interface `serve` binds to")
    port: int = Field(8000, ge=0, le=65535, description="port `serve` listens on")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = Field(True, description="one JSON line per request on stderr")
    cache_size: int = Field(
        1024, ge=1, description="compiled versions kept in memory (an LRU per process)"
    )
    max_body_bytes: int = Field(1 << 20, ge=1024, description="larger request bodies get 413")
    body_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="seconds a request body may take to arrive; then 408 and the connection "
        "is closed",
    )
    max_header_bytes: int = Field(
        32768,
        ge=4096,
        le=1 << 20,
        description="most bytes of a request's line and headers; more gets 431 and the "
        "connection is closed",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="seconds a connection may take to send a request's line and headers; "
        "then 408 (or a silent close when nothing came) and the connection is closed",
    )
    db_pool_size: int = Field(10, ge=1, description="database connections per process")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite's `synchronous` pragma: FULL (a commit survives a power loss) or "
        "NORMAL (survives a crash of the process; the last commits may be lost on power loss)",
    )
    auto_migrate: bool = Field(True, description="apply migrations when the app starts")
    run_stale_after: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="seconds after its last heartbeat a running run stops counting as live "
        "(a live follower blocks an amendment whose from_step it has passed)",
    )
    workers: int = Field(
        1, ge=0, le=256, description="`serve` worker processes (uvicorn); 0: one per CPU core"
    )
    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "auto", description="uvicorn event loop; auto takes uvloop when installed"
    )
    http: Literal["auto", "h11", "httptools"] = Field(
        "auto", description="uvicorn HTTP parser; auto takes httptools when installed"
    )
