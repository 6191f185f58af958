"""Sign-in rate limiting: failed attempts are counted per user name and per client address in a sliding
window; once either reaches the limit, further attempts are refused with 429 and Retry-After until the oldest
failure leaves the window -- before the password is even checked, so guessing gains nothing.

The counts live in the web server process (a restart forgets them; with `serve --workers N` each process
counts on its own, so the effective limit is N times higher). A successful sign-in clears its user's count,
not the address's.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque

from ..errors import TooManyAttempts

log = logging.getLogger("circuitscope.security")


class LoginLimiter:
    def __init__(self, max_failures: int, window_seconds: float, clock=time.monotonic):
        self.max_failures, self.window, self.clock = max_failures, float(window_seconds), clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            self._failures.pop(key, None)
            return deque()
        return q

    def check(self, name: str, client: str) -> None:
        """Raise 429 if this user name or this client address has used up its attempts."""
        now = self.clock()
        with self._lock:
            for key, what in ((f"user:{name.lower()}", f"user {name!r}"), (f"addr:{client}", f"address {client}")):
                q = self._recent(key, now)
                if len(q) >= self.max_failures:
                    wait = max(1, int(q[0] + self.window - now) + 1)
                    log.warning("sign-in refused (rate limit) for user %r from %s", name, client)
                    raise TooManyAttempts(f"Too many failed sign-ins for {what} ({len(q)} in the last "
                                             f"{int(self.window)} s). Wait {wait} s and try again, or ask an admin to "
                                             "reset the password.", retry_after=wait)

    def failed(self, name: str, client: str) -> None:
        now = self.clock()
        with self._lock:
            self._failures[f"user:{name.lower()}"].append(now)
            self._failures[f"addr:{client}"].append(now)
        log.warning("failed sign-in for user %r from %s", name, client)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{name.lower()}", None)


def limiter_for(app) -> LoginLimiter:
    """The app's limiter (created on first use from its settings)."""
    limiter = getattr(app.state, "login_limiter", None)
    if limiter is None:
        s = app.state.settings
        limiter = app.state.login_limiter = LoginLimiter(s.login_max_failures, s.login_window_seconds)
    return limiter
