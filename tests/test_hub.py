"""Finding model files: local folders as they are, hub ids through huggingface-hub's cache."""

from __future__ import annotations

import os
import subprocess
import sys

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
