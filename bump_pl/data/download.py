"""Download LaMP's official files: cached by sha256, written atomically, size-checked.

URL layout: ``{base}/[time/]LaMP_k/{split}/{split}_{questions,outputs}.json`` (LaMP-2 lives under
``LaMP_2/new/``); the test split has no outputs file and LaMP-6 is not downloadable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from bump_pl.data.tasks import canonical_task_name
from bump_pl.atomic_files import umask_mode
from bump_pl.did_you_mean import unknown_name

OFFICIAL_BASE_URL = "https://ciir.cs.umass.edu/downloads/LaMP"
Setting = Literal["user", "time"]
_CHUNK = 1 << 16
#: The LaMP tasks whose files the official site serves (LaMP_6 needs the licensed Avocado corpus).
DOWNLOADABLE = ("LaMP_1", "LaMP_2", "LaMP_3", "LaMP_4", "LaMP_5", "LaMP_7")


class DownloadError(RuntimeError):
    """A download failed (network error, HTTP error or a truncated transfer); one line, naming the URL."""


def lamp_urls(task: str, split: str, setting: Setting = "user", base_url: str = OFFICIAL_BASE_URL) -> dict[str, str]:
    """``{file name: URL}`` of the official files of one task, split and setting."""
    name = canonical_task_name(task)
    if name == "LaMP_6":
        raise ValueError("LaMP_6 is built from the licensed Avocado corpus and cannot be downloaded")
    if name not in DOWNLOADABLE:
        raise ValueError(f"{unknown_name('LaMP task', task, DOWNLOADABLE)} (--task)")
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split must be train, dev or test, got {split!r}")
    if setting not in ("user", "time"):
        raise ValueError(f"setting must be 'user' or 'time', got {setting!r}")
    folder = f"{name}/new" if name == "LaMP_2" else name
    root = f"{base_url.rstrip('/')}/{'time/' if setting == 'time' else ''}{folder}/{split}"
    kinds = ("questions",) if split == "test" else ("questions", "outputs")
    return {f"{split}_{kind}.json": f"{root}/{split}_{kind}.json" for kind in kinds}


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_cached(path: Path) -> bool:
    """Whether ``path`` exists and matches the sha256 recorded in ``path.sha256``."""
    record = path.with_name(path.name + ".sha256")
    if not path.is_file() or not record.is_file():
        return False
    return record.read_text(encoding="utf-8").split()[0:1] == [sha256_of(path)]


def fetch(url: str, dest: Path, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` unless cached; the file appears only when complete.

    The bytes go to a temporary file beside ``dest`` (removed on any failure, leaving a previous
    ``dest`` untouched), are checked against ``Content-Length`` when the server sends one, then
    renamed over ``dest``; ``dest.sha256`` records the checksum for the next run.

    Raises:
        DownloadError: HTTP/network failure or fewer bytes than announced.
    """
    if is_cached(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    temp = Path(temp_name)
    digest = hashlib.sha256()
    received = 0
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length is not None and length.isdigit() else None
            with tqdm(total=expected, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if expected is not None and received != expected:
            raise DownloadError(f"{url}: transfer interrupted, got {received} of {expected} bytes")
    except DownloadError:
        temp.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError) as err:
        temp.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"{url}: download failed after {received} bytes ({reason})") from None
    temp.chmod(umask_mode(0o666))  # mkstemp's file is owner-only; the download is an ordinary file
    os.replace(temp, dest)
    dest.with_name(dest.name + ".sha256").write_text(f"{digest.hexdigest()}  {dest.name}\n", encoding="utf-8")
    return dest


def download_lamp(
    task: str,
    split: str,
    out_dir: str | Path,
    setting: Setting = "user",
    base_url: str = OFFICIAL_BASE_URL,
    progress: bool = True,
) -> list[Path]:
    """Download one task/split/setting into ``out_dir``; returns the local files.

    Names are checked before anything is fetched or created; when a download fails (or is
    interrupted), the folders this call created are removed again, with whatever they hold.
    """
    urls = lamp_urls(task, split, setting, base_url)
    out = Path(out_dir)
    created = _first_missing(out)
    try:
        return [fetch(url, out / name, progress=progress) for name, url in urls.items()]
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path``'s chain that does not exist yet (``None``: it exists)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing
