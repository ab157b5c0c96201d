"""``kill -9`` in the middle of a download leaves the previous file intact, and the next run completes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bump_pl.data.download import fetch, is_cached

BODY = b'[{"id": "1", "input": "q", "profile": []}]' * 4000


class _StallingServer:
    """Serves BODY; while ``stall`` is set it sends half the bytes and then hangs until released."""

    def __init__(self) -> None:
        self.stall = threading.Event()
        self.release = threading.Event()
        self.half_sent = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                if server.stall.is_set():
                    self.wfile.write(BODY[: len(BODY) // 2])
                    self.wfile.flush()
                    server.half_sent.set()
                    server.release.wait(timeout=60)
                    return
                self.wfile.write(BODY)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/train_questions.json"


@pytest.fixture
def server() -> Iterator[_StallingServer]:
    srv = _StallingServer()
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_kill_9_mid_download_keeps_the_previous_file_and_the_next_run_completes(
    server: _StallingServer, tmp_path: Path
) -> None:
    dest = tmp_path / "train_questions.json"
    dest.write_bytes(b"previous good file")  # no .sha256 record: a fresh download is attempted
    server.stall.set()
    script = "import sys; from pathlib import Path; from bump_pl.data.download import fetch; fetch(sys.argv[1], Path(sys.argv[2]), progress=False)"
    process = subprocess.Popen([sys.executable, "-c", script, server.url, str(dest)])
    try:
        assert server.half_sent.wait(timeout=120), "the downloader never connected"
        time.sleep(0.5)  # let it write what it received
        process.kill()  # SIGKILL: no except/finally runs in the child
        assert process.wait(timeout=30) == -9
    finally:
        process.kill()
    assert dest.read_bytes() == b"previous good file"
    assert not dest.with_name(dest.name + ".sha256").exists()

    server.stall.clear()
    server.release.set()
    assert fetch(server.url, dest, progress=False) == dest
    assert dest.read_bytes() == BODY and is_cached(dest)
