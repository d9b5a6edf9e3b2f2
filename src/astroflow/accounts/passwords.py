"""Password hashes: stdlib scrypt, with a per-user salt and the cost parameters in the hash.

scrypt (RFC 7914) rather than argon2: it is in the standard library, so no compiled
dependency, and it is memory-hard as argon2 is. Keeping ``n``, ``r`` and ``p`` in each hash
lets the cost grow later without invalidating stored hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

SCHEME = "scrypt"
# ~32 MiB and ~60 ms per check on one core. OWASP's 2**17 would take 128 MiB per check;
# with the server's thread pool that is gigabytes under a burst of sign-ins, so the cost stays
# here, at most SLOTS checks run at once, and stored parameters let it grow later.
N, R, P = 2**15, 8, 1
SLOTS = threading.BoundedSemaphore(4)
SALT_BYTES, KEY_BYTES = 16, 32
MAX_PASSWORD = 1024            # characters; longer input is refused, never hashed
MAX_N = 2**20                  # a stored hash may not ask for more memory than this


class PasswordError(ValueError):
    """A password refused before hashing (empty, too long)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    with SLOTS:
        return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p,
                              maxmem=256 * r * (n + p + 2), dklen=KEY_BYTES)


def check_password_text(password: str) -> None:
    """Refuse passwords that cannot be stored: empty, or longer than MAX_PASSWORD."""
    if not password:
        raise PasswordError("the password is empty")
    if len(password) > MAX_PASSWORD:
        raise PasswordError(f"the password is longer than {MAX_PASSWORD} characters")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$key`` for a new password (a fresh random salt each time)."""
    check_password_text(password)
    salt = secrets.token_bytes(SALT_BYTES)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time.

    With no stored hash (an unknown user) a dummy hash is still computed, so the answer
    takes as long as for a known user and timing does not tell which names exist.
    """
    if stored is None or not password or len(password) > MAX_PASSWORD:
        _derive(password[:MAX_PASSWORD] or "-", b"\0" * SALT_BYTES, N, R, P)
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        n_, r_, p_ = int(n), int(r), int(p)
        if scheme != SCHEME or not (2 <= n_ <= MAX_N and 1 <= r_ <= 32 and 1 <= p_ <= 16):
            return False
        expected = _unb64(key)
        actual = _derive(password, _unb64(salt), n_, r_, p_)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
