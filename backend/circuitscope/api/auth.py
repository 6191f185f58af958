"""Identity and roles for API requests (placeholder until the annotation work fills it in).

`require_reader` guards every read endpoint (anonymous reads can be switched off in settings).
"""
from __future__ import annotations

from fastapi import Request


def require_reader(request: Request) -> None:
    return None
