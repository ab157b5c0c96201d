"""Download against a local HTTP server: complete file, interrupted transfer, checksum cache."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bump_pl.cli.data import main
from bump_pl.data.download import DownloadError, download_lamp, fetch, lamp_urls, sha256_of

BODY = b'[{"id": "1", "input": "q", "profile": []}]' * 2000


class _Server:
    """Serves ``files`` (path → bytes); paths in ``truncate`` announce the full length but send half."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.hits.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.truncate else body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_official_url_layout() -> None:
    base = "https://ciir.cs.umass.edu/downloads/LaMP"
    assert lamp_urls("LaMP-3", "dev") == {
        "dev_questions.json": f"{base}/LaMP_3/dev/dev_questions.json",
        "dev_outputs.json": f"{base}/LaMP_3/dev/dev_outputs.json",
    }
    assert lamp_urls("LaMP_2", "test", "time") == {"test_questions.json": f"{base}/time/LaMP_2/new/test/test_questions.json"}
    with pytest.raises(ValueError, match="LaMP_6 .* cannot be downloaded"):
        lamp_urls("LaMP_6", "train")


def test_complete_download_records_checksum_and_is_cached(server: _Server, tmp_path: Path) -> None:
    server.files = {"/LaMP_3/dev/dev_questions.json": BODY, "/LaMP_3/dev/dev_outputs.json": b'{"golds": []}'}
    paths = download_lamp("LaMP_3", "dev", tmp_path, base_url=server.url, progress=False)
    assert [p.name for p in paths] == ["dev_questions.json", "dev_outputs.json"]
    assert paths[0].read_bytes() == BODY
    assert (tmp_path / "dev_questions.json.sha256").read_text().split()[0] == hashlib.sha256(BODY).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dev_outputs.json", "dev_outputs.json.sha256", "dev_questions.json", "dev_questions.json.sha256"]
    mask = os.umask(0)
    os.umask(mask)
    assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o666 & ~mask}  # as any new file, not 0600
    server.hits.clear()
    download_lamp("LaMP_3", "dev", tmp_path, base_url=server.url, progress=False)
    assert server.hits == []  # cached: checksum verified, nothing fetched
    paths[0].write_bytes(b"tampered")  # checksum mismatch → fetched again
    download_lamp("LaMP_3", "dev", tmp_path, base_url=server.url, progress=False)
    assert server.hits == ["/LaMP_3/dev/dev_questions.json"] and paths[0].read_bytes() == BODY


def test_interrupted_transfer_keeps_previous_file_and_leaves_no_partial(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "train_questions.json"
    dest.write_bytes(b"previous good file")  # no .sha256: not a cache hit, a re-download is attempted
    server.files = {"/f.json": BODY}
    server.truncate = {"/f.json"}
    with pytest.raises(DownloadError, match=rf"f\.json: transfer interrupted, got {len(BODY) // 2} of {len(BODY)} bytes"):
        fetch(f"{server.url}/f.json", dest, progress=False)
    assert dest.read_bytes() == b"previous good file"
    assert [p.name for p in tmp_path.iterdir()] == ["train_questions.json"]


def test_http_error_is_one_line(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="missing.json: download failed") as info:
        fetch(f"{server.url}/missing.json", tmp_path / "x.json", progress=False)
    assert "\n" not in str(info.value) and list(tmp_path.iterdir()) == []


def test_cli_download(server: _Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server.files = {"/time/LaMP_7/test/test_questions.json": BODY}
    code = main(["download", "--task", "LaMP-7", "--split", "test", "--setting", "time",
                 "--out", str(tmp_path), "--base-url", server.url])
    assert code == 0 and sha256_of(tmp_path / "test_questions.json") == hashlib.sha256(BODY).hexdigest()
    assert main(["download", "--task", "LaMP_6", "--split", "dev", "--out", str(tmp_path)]) == 1
    assert "LaMP_6" in capsys.readouterr().err



def test_unknown_task_fetches_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a" / "b"
    assert main(["download", "--task", "LaMP_8", "--split", "dev", "--out", str(out), "--base-url", "http://127.0.0.1:9"]) == 1
    line = capsys.readouterr().err.strip()
    assert "unknown LaMP task 'LaMP_8': did you mean" in line and "(known: LaMP_1, LaMP_2, LaMP_3, LaMP_4, LaMP_5, LaMP_7)" in line
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"unknown LaMP task 'lamb_3': did you mean 'LaMP_3'\?"):
        lamp_urls("lamb_3", "dev")


def test_failed_download_removes_the_folders_it_created(server: _Server, tmp_path: Path) -> None:
    server.files = {"/LaMP_3/dev/dev_questions.json": BODY}  # dev_outputs.json: 404
    out = tmp_path / "new" / "LaMP_3"
    with pytest.raises(DownloadError, match="dev_outputs.json: download failed"):
        download_lamp("LaMP_3", "dev", out, base_url=server.url, progress=False)
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(DownloadError):
        download_lamp("LaMP_3", "dev", kept, base_url=server.url, progress=False)
    assert kept.is_dir()  # not created by the download: stays
