"""A real nginx from Debian on a free loopback port, serving HTTPS from files an agent deploys
(its own configuration, pid file, logs and temporary directories under one directory)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        pytest.fail("nginx is not installed (.ci/run installs it)")
    return found


@dataclass
class Nginx:
    directory: Path
    port: int
    certificate: Path
    key: Path

    @property
    def conf(self) -> Path:
        return self.directory / "nginx.conf"

    def command(self, *args: str) -> list[str]:
        return [nginx_binary(), "-p", f"{self.directory}/", "-c", str(self.conf), *args]

    @property
    def reload_argv(self) -> list[str]:
        return self.command("-s", "reload")

    def pid(self) -> int | None:
        try:
            return int((self.directory / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)  # polling for the process to go, with a deadline


def start_nginx(directory: Path, server_name: str, certificate: bytes, key: bytes) -> Nginx:
    """nginx serving ``certificate``/``key`` (written as files first) on a free port."""
    files = directory / "files"
    files.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    (directory / "tmp").mkdir(exist_ok=True)
    cert_path, key_path = files / "fullchain.pem", files / "key.pem"
    cert_path.write_bytes(certificate)
    key_path.touch(mode=0o600)
    key_path.write_bytes(key)
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"  {kind}_temp_path {directory}/tmp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    nginx = Nginx(directory, port, cert_path, key_path)
    nginx.conf.write_text(
        f"""{user}worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
{temp}
  server {{
    listen 127.0.0.1:{port} ssl;
    server_name {server_name};
    ssl_certificate {cert_path};
    ssl_certificate_key {key_path};
    location / {{ return 200 "{server_name}\\n"; }}
  }}
}}
"""
    )
    done = subprocess.run(nginx.command(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"nginx did not start: {done.stderr}")
    return nginx
