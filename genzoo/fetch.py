"""Verified downloads: try each URL in turn, stream into a temporary file beside the target,
check its digest, and only then move it into place (a failed or corrupt download leaves nothing).

Used for the IDX datasets (md5) and the user-requested Inception weights (sha256 prefix).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from genzoo.errors import GenzooError


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, folder: Path, file: str, algorithm: str) -> tuple[Path, str]:
    """Stream ``url`` into a temporary file in ``folder``; return (temp path, hex digest)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{file}.", suffix=".part", dir=folder)
    try:
        h = hashlib.new(algorithm)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
        return Path(tmp), h.hexdigest()
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download_verified(
    urls: list[str],
    dest: Path,
    algorithm: str,
    expected: str,
    what: str,
    error: type[GenzooError] = GenzooError,
) -> Path:
    """Download ``dest`` from the first of ``urls`` whose content's ``algorithm`` digest starts with
    ``expected`` (a full digest or a prefix); ``error`` lists every URL tried and why it failed."""
    folder, file = dest.parent, dest.name
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise error(f"{what}: cannot create {folder} to download {file}: {e}") from e
    errors = []
    for url in urls:
        try:
            tmp, actual = _fetch(url, folder, file, algorithm)
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError is an OSError
            plain = isinstance(e, urllib.error.URLError) and not hasattr(e, "code")
            errors.append(f"{url}: {e.reason if plain else e}")
            continue
        if not actual.startswith(expected):
            tmp.unlink(missing_ok=True)
            errors.append(f"{url}: {algorithm} mismatch, expected {expected}, got {actual}")
            continue
        try:
            os.replace(tmp, dest)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise error(f"{what}: cannot move the download into {dest}: {e}") from e
        return dest
    for p in created:  # leave no trace of a failed first download
        if any(p.iterdir()):
            break
        p.rmdir()
    raise error(f"{what}: could not download {file} into {folder}; tried " + "; ".join(errors))


def mirrors_from_env() -> list[str] | None:
    """The comma-separated base URLs in $GENZOO_MIRROR, or None."""
    env = os.environ.get("GENZOO_MIRROR", "")
    return [m.strip() for m in env.split(",") if m.strip()] or None
