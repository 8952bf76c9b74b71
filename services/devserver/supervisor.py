"""Start service processes, wait until they answer, stop them together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class ServiceProcess:
    name: str
    module: str
    env: dict[str, str]
    ready_url: str | None  # None: a worker with no HTTP; started is ready
    verify: bool | str = True
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", self.module, *self.args],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.process is not None
        if self.ready_url is None:
            time.sleep(0.5)
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}")
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}")
            try:
                if httpx.get(self.ready_url, timeout=1, verify=self.verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready at {self.ready_url}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def watch(services: list[ServiceProcess]) -> int:
    """Block until Ctrl-C or SIGTERM (exit 0) or until a service dies (exit 1);
    either way every service is stopped before returning."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while True:
            for svc in services:
                assert svc.process is not None
                if svc.process.poll() is not None:
                    print(
                        f"\n{svc.name} exited with code {svc.process.returncode}", file=sys.stderr
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        for svc in reversed(services):
            svc.stop()
