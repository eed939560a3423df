"""Find model files: a local folder as it is, or a Hugging Face repo downloaded once into its cache."""

from __future__ import annotations

import os
import re
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
    if licence:
        print(f"Downloading {repo} ({licence}).", flush=True)
    try:
        return Path(snapshot_download(repo, allow_patterns=allow_patterns))
    except Exception as e:  # huggingface-hub raises many types for "offline", "no such repo", ...
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        why = "HF_HUB_OFFLINE is set" if offline else _reason(e)
        raise MlxStreamError(
            f"cannot download {what} '{repo}' ({why}): connect to the internet once, "
            f"or pass a local folder that holds its files"
        ) from None


def _reason(e: Exception) -> str:
    name = type(e).__name__
    if "NotFound" in name or "RepositoryNotFound" in name:
        return "no such repo on the Hugging Face Hub"
    if "Connect" in name or "Offline" in name or "LocalEntryNotFound" in name:
        return "the Hugging Face Hub cannot be reached"
    first = str(e).strip().splitlines()[0] if str(e).strip() else name
    return first[:160]
