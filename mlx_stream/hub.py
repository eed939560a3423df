"""Find model files: a local folder as it is, or a Hugging Face repo downloaded once into its cache."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .errors import MlxStreamError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve(
    path_or_repo: str | os.PathLike,
    allow_patterns: list[str] | None = None,
    what: str = "model",
    licence: str | None = None,
) -> Path:
    """Return a local folder holding the model's files.

    An existing folder is returned unchanged. Otherwise `path_or_repo` must be a hub id such as
    `facebook/nllb-200-distilled-600M`: the files matching `allow_patterns` are fetched (with a
    progress bar) or, when already cached, used without touching the network.
    """
    path = Path(path_or_repo).expanduser()
    if path.is_dir():
        return path
    repo = str(path_or_repo)
    if path.exists() or not _REPO_ID.match(repo) or repo.startswith((".", "/", "~")):
        raise MlxStreamError(
            f"{what} not found: '{repo}' is neither a folder nor a Hugging Face repo id (owner/name)"
        )
    if path.parent.is_dir():  # `weights/nllb-q4` is meant as a folder, not a repo of user `weights`
        raise MlxStreamError(
            f"{what} not found: there is no folder '{repo}' (check the path, or convert into it first)"
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, allow_patterns=allow_patterns, local_files_only=True))
    except Exception:
        pass  # not cached yet: download below
    if _offline():  # no download to announce
        raise MlxStreamError(
            f"cannot download {what} '{repo}' (HF_HUB_OFFLINE is set): {_NO_NETWORK}"
        )
    if licence:
        print(f"Downloading {repo} ({licence}).", file=sys.stderr, flush=True)
    try:
        return Path(snapshot_download(repo, allow_patterns=allow_patterns))
    except Exception as e:
        why, todo = _failure(e)
        raise MlxStreamError(f"cannot download {what} '{repo}' ({why}): {todo}") from None


_NO_NETWORK = "connect to the internet once, or pass a local folder that holds its files"


def _failure(e: Exception) -> tuple[str, str]:
    """Why a download failed and what to do, told by the exception's type (not its name: an
    offline hub raises `LocalEntryNotFoundError`, which is no "not found" of the repo)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if _offline() or isinstance(e, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set", _NO_NETWORK
    if isinstance(e, GatedRepoError):
        return (
            "the repo is gated",
            "accept its terms on huggingface.co, then log in with `hf auth login`",
        )
    if isinstance(e, RepositoryNotFoundError):
        return (
            "no such repo on the Hugging Face Hub, or it is private",
            "check the name, or pass a local folder that holds its files",
        )
    if isinstance(e, RevisionNotFoundError):
        return "no such revision of the repo", "check the name, or pass a local folder"
    if isinstance(e, LocalEntryNotFoundError) or _is_network_error(e):
        return "the Hugging Face Hub cannot be reached", _NO_NETWORK
    if isinstance(e, HfHubHTTPError) and e.response is not None:
        status = e.response.status_code
        if status in (401, 403):
            return f"access denied, HTTP {status}", "log in with `hf auth login`"
        return f"the Hugging Face Hub answered HTTP {status}", "try again later"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror, "free some disk space or fix the cache folder (HF_HOME), then retry"
    return _first_line(e), _NO_NETWORK


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _is_network_error(e: BaseException) -> bool:
    """A connection, proxy, TLS or timeout error of the HTTP client (requests or httpx)."""
    while e is not None:
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        module = type(e).__module__.split(".")[0]
        if (
            module in ("requests", "httpx", "httpcore", "urllib3")
            and "HTTPError" not in type(e).__name__
        ):
            return True
        e = e.__cause__ or e.__context__
    return False


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:160] if text else type(e).__name__
