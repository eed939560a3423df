"""Finding model files: local folders as they are, hub ids through huggingface-hub's cache."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading

import pytest

from mlx_stream.errors import MlxStreamError
from mlx_stream.hub import resolve


def test_a_folder_is_used_as_it_is(tmp_path):
    assert resolve(tmp_path) == tmp_path


def test_a_missing_folder_under_an_existing_one_is_not_taken_for_a_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").mkdir()
    with pytest.raises(MlxStreamError, match="no folder 'weights/nllb-q4'"):
        resolve("weights/nllb-q4")


@pytest.mark.parametrize("name", ["nope", "/no/such/dir", "./x/y", "a/b/c"])
def test_neither_folder_nor_repo_id(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MlxStreamError, match="neither a folder nor a Hugging Face repo id"):
        resolve(name)


def test_offline_and_not_cached_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(MlxStreamError) as error:
        resolve("facebook/nllb-200-distilled-600M", ["config.json"], what="NLLB model")
    message = str(error.value)
    assert "HF_HUB_OFFLINE is set" in message and "facebook/nllb-200-distilled-600M" in message
    assert "\n" not in message


def test_a_cached_repo_is_used_offline(tmp_path):
    # the hub cache's real layout: models--owner--name/{refs/main, snapshots/<commit>/...}
    cache = tmp_path / "cache"
    repo = cache / "models--someone--tiny"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    # huggingface-hub reads its settings at import: a fresh process
    code = "from mlx_stream.hub import resolve; print(resolve('someone/tiny', ['config.json']))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(snapshot)


def resolve_in_a_fresh_process(tmp_path, endpoint: str, licence: str | None = None):
    """huggingface-hub reads HF_ENDPOINT at import: resolve a repo in a child process."""
    code = (
        "import sys\n"
        "from mlx_stream.errors import MlxStreamError\n"
        "from mlx_stream.hub import resolve\n"
        "try:\n"
        f"    resolve('someone/tiny', ['config.json'], what='NLLB model', licence={licence!r})\n"
        "except MlxStreamError as e:\n"
        "    print(e, file=sys.stderr)\n"
        "    sys.exit(1)\n"
    )
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_HUB_CACHE": str(tmp_path / "cache"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_HUB_OFFLINE", None)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path,
        timeout=60,
    )  # fmt: skip


class FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers every request as the Hugging Face Hub answers for a missing or gated repo."""

    status, error_code = 404, "RepoNotFound"

    def do_GET(self):
        self.send_response(self.status)
        self.send_header("X-Error-Code", self.error_code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "Repository not found"}')

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub():
    servers = []

    def start(status: int, error_code: str) -> str:
        handler = type("Handler", (FakeHub,), {"status": status, "error_code": error_code})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def test_an_unreachable_hub_is_not_reported_as_a_missing_repo(tmp_path):
    result = resolve_in_a_fresh_process(
        tmp_path, f"http://127.0.0.1:{closed_port()}", licence="CC-BY-NC-4.0"
    )
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert "the Hugging Face Hub cannot be reached" in message, result.stderr
    assert "no such repo" not in message and "connect to the internet once" in message
    assert result.stdout == "", "messages go to stderr, never into the data on stdout"
    assert "Downloading someone/tiny (CC-BY-NC-4.0)." in result.stderr


def test_a_missing_repo_is_reported_as_missing(tmp_path, fake_hub):
    result = resolve_in_a_fresh_process(tmp_path, fake_hub(404, "RepoNotFound"))
    assert result.returncode == 1
    assert "(no such repo on the Hugging Face Hub, or it is private)" in result.stderr, (
        result.stderr
    )


def test_a_gated_repo_says_how_to_get_access(tmp_path, fake_hub):
    result = resolve_in_a_fresh_process(tmp_path, fake_hub(403, "GatedRepo"))
    assert result.returncode == 1
    assert "(the repo is gated)" in result.stderr and "hf auth login" in result.stderr, (
        result.stderr
    )
