"""App processes for the tests that run Momentum in several real processes (tests/test_rooms_scale.py, and the
supporter's page across two processes in tests/browser/test_browser_sharing_live.py): each is tests/serve_app.py."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

SERVE = Path(__file__).with_name("serve_app.py")
START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dead_redis_url() -> str:
    """A Redis URL where nothing listens: an outage."""
    return f"redis://127.0.0.1:{free_port()}/0"


class AppProcess:
    """One `serve_app.py serve` process; its stdout lines (JSON) arrive on a queue, its stderr goes to a file."""

    def __init__(self, env: dict, log: Path, port: int = 0, standby: bool = False):
        self.log = log
        command = [sys.executable, str(SERVE), "serve", "--port", str(port)]
        if standby:
            command.append("--standby")
        self._stderr = open(log, "a")
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, text=True)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port: int | None = None

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(json.loads(line))

    def next_line(self) -> dict:
        try:
            return self._lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"the app process said nothing in {START_TIMEOUT} s; see {self.log}") from None

    def wait_ready(self) -> None:
        """Standby: wait until the app is built (and only the port is left to bind)."""
        assert self.next_line() == {"ready": True}

    def go(self) -> None:
        """Standby: bind the port and serve."""
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        self.wait_listening()

    def wait_listening(self) -> None:
        self.port = self.next_line()["port"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()
        self._stderr.close()
