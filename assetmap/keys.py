"""The deployment's own secret key, and the keys derived from it for each purpose.

The key signs session cookies and keys the hashes that stand in for client addresses
(the sign-in brake) and searchers (the unmet-need counts). It is never in the
repository: ``ASSETMAP_SECRET_KEY``, or a key made on first start and kept, readable
by its owner only, in the instance folder. A key that was ever published is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from assetmap.config import Settings
from assetmap.errors import ConfigError

MIN_LENGTH = 32
KEY_FILE = "secret_key"
# SHA-256 of keys that anyone can read: the one once tracked in the repository.
PUBLISHED = frozenset({"2a6ee1ebb31053f0f59b75cc03e9e3e20a9050041a2db39d8148fcece509b5eb"})
log = logging.getLogger(__name__)


def is_published(key: str) -> bool:
    return hashlib.sha256(key.strip().encode()).hexdigest() in PUBLISHED


def deployment_key(options: Settings) -> str:
    """The key from ASSETMAP_SECRET_KEY, or the instance folder's (made there if absent)."""
    if options.secret_key:
        if is_published(options.secret_key):
            raise ConfigError("ASSETMAP_SECRET_KEY is a key that was published with assetmap's source: "
                              "set a new one (python3 -c 'import secrets; print(secrets.token_hex(32))')")
        if len(options.secret_key) < MIN_LENGTH:
            raise ConfigError(f"ASSETMAP_SECRET_KEY must be at least {MIN_LENGTH} characters long; "
                              "make one with python3 -c 'import secrets; print(secrets.token_hex(32))'")
        return options.secret_key
    return _instance_key(Path(options.instance_dir))


def _instance_key(folder: Path) -> str:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # One process at a time decides: server processes starting together all read the one key.
        with open(folder / ".secret_key.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _read_or_make(folder / KEY_FILE)
    except OSError as exc:
        raise ConfigError(f"cannot keep the session key in {folder} ({exc.strerror}): "
                          "set ASSETMAP_INSTANCE to a folder assetmap may write, or ASSETMAP_SECRET_KEY") from None


def _read_or_make(path: Path) -> str:
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key and not is_published(key) and len(key) >= MIN_LENGTH:
        if (path.stat().st_mode & 0o077) != 0:
            path.chmod(0o600)
        return key
    if key:
        log.warning("replacing the %s session key in %s: everyone must sign in again",
                    "published" if is_published(key) else "too short", path)
    key = secrets.token_hex(32)
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    os.replace(draft, path)  # whole or not at all, even if the machine stops here
    return key


def derived(key: str, purpose: str) -> bytes:
    """A key for one purpose: a hash made for one use cannot be matched against another's."""
    return hmac.new(key.encode(), f"assetmap {purpose}".encode(), hashlib.sha256).digest()


def keyed_hash(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
