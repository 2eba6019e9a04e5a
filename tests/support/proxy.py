"""The repository's proxy config (deploy/nginx/default.conf.template) run for real by
Debian's nginx, in front of local replicas: for the proxy tests and bench/server.py.

    with Proxy(tmp_path, upstreams=[a.url, b.url]) as proxy:
        httpx.get(proxy.url + "/healthz")

The template is rendered the way the official nginx image renders it (its ${STEPSIZE_*}
variables substituted, nothing else), then included in a minimal main config whose paths
all lie in `directory`. nginx runs in the foreground as a child process; `stop()` ends it.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import string
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.live_server import end_process, free_port, log_tail

REPOSITORY = Path(__file__).resolve().parents[2]
TEMPLATE = REPOSITORY / "deploy" / "nginx" / "default.conf.template"
START_TIMEOUT_S = 30.0


class ProxyFailed(RuntimeError):
    """nginx is missing, rejected the config or did not start (the message has its log)."""


def nginx_binary() -> str:
    """Debian's nginx. Raises ProxyFailed when it is not installed (make test installs it)."""
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if found is None:
        raise ProxyFailed("nginx not found: apt-get install nginx (make test does this)")
    return found


def render(template: str, variables: dict[str, str]) -> str:
    """The template with its ${NAME} variables replaced, as envsubst does with a filter:
    nginx's own $variables stay. Raises ProxyFailed when a ${...} is left unset."""
    rendered = string.Template(template).safe_substitute(variables)
    left = re.findall(r"\$\{[A-Z_]+\}", rendered)
    if left:
        raise ProxyFailed(f"template variables without a value: {sorted(set(left))}")
    return rendered


class Proxy:
    """One nginx over the repository's template, balancing `upstreams` (base URLs)."""

    def __init__(self, directory: Path, *, upstreams: list[str], port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.upstreams = upstreams
        self.process: subprocess.Popen[bytes] | None = None
        self.error_log = self.directory / "error.log"

    def write_config(self) -> Path:
        """Render the template and the main config into `directory`; the main config's path."""
        for sub in ("cache", "temp"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        servers = " ".join(f"server {url.removeprefix('http://')};" for url in self.upstreams)
        site = render(
            TEMPLATE.read_text(),
            {
                "STEPSIZE_UPSTREAM_SERVERS": servers,
                "STEPSIZE_PROXY_LISTEN": f"127.0.0.1:{self.port}",
                "STEPSIZE_PROXY_CACHE_DIR": str(self.directory / "cache"),
            },
        )
        (self.directory / "stepsize.conf").write_text(site)
        temp = self.directory / "temp"
        # As root, nginx's workers would drop to `nobody`, who cannot enter this directory.
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
        main = self.directory / "nginx.conf"
        main.write_text(
            f"""{user}
worker_processes 2;
pid {self.directory}/nginx.pid;
error_log {self.error_log} warn;
events {{ worker_connections 512; }}
http {{
    # As the official nginx image's nginx.conf, which includes the template in production.
    sendfile on;
    tcp_nopush on;
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {self.directory}/stepsize.conf;
}}
"""
        )
        return main

    def start(self) -> Proxy:
        """Check the config (`nginx -t`), start nginx and wait until it answers.
        Raises ProxyFailed with nginx's messages."""
        nginx = nginx_binary()
        main = self.write_config()
        command = [nginx, "-p", str(self.directory), "-c", str(main), "-e", str(self.error_log)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise ProxyFailed(f"nginx rejected the config:\n{checked.stderr}")
        self.process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise ProxyFailed(f"nginx exited at start:\n{self._log()}")
            try:
                httpx.get(self.url + "/healthz", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise ProxyFailed(f"nginx not answering after {START_TIMEOUT_S} s:\n{self._log()}")

    def stop(self) -> None:
        """Graceful stop (SIGQUIT), then SIGKILL after 10 s. No-op when stopped."""
        if self.process is None:
            return
        end_process(self.process, signal.SIGQUIT)  # nginx's graceful shutdown
        self.process = None

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _log(self) -> str:
        return log_tail(self.error_log)
