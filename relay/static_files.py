"""The browser viewer's static files (relay/browser/static/, package data of `relay`),
read once when the relay starts and answered from memory with their content types.

Only files of the kinds listed in CONTENT_TYPES are served, and only those found under
the folder at start: a request names one of them exactly or gets 404; nothing of the
request reaches the file system. `/` is `index.html`. Each file has an ETag (a hash of its
bytes), so a browser that revalidates gets 304 without the body.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "browser" / "static"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
MAX_STATIC_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def load_static_files(folder: Path = STATIC_DIR) -> dict[str, StaticFile]:
    """Every servable file under `folder`, by its URL path ("/", "/js/app.js", ...)."""
    files: dict[str, StaticFile] = {}
    if not folder.is_dir():
        return files
    for path in sorted(folder.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file() or path.stat().st_size > MAX_STATIC_BYTES:
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        url = "/" + path.relative_to(folder).as_posix()
        files[url] = StaticFile(body, content_type, etag)
        if url == "/" + INDEX:
            files["/"] = files[url]
    return files
