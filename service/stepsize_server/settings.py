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
    db_pool_size: int = Field(10, ge=1, description="database connections per process")
    auto_migrate: bool = Field(True, description="apply migrations when the app starts")
    workers: int = Field(
        1, ge=0, le=256, description="`serve` worker processes (uvicorn); 0: one per CPU core"
    )
    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "auto", description="uvicorn event loop; auto takes uvloop when installed"
    )
    http: Literal["auto", "h11", "httptools"] = Field(
        "auto", description="uvicorn HTTP parser; auto takes httptools when installed"
    )
