from __future__ import annotations

from libs.routing import Route
from libs.scopes import PREP_OR_CHECK
from services.auth.resources import CurrentKey


def routes() -> list[Route]:
    return [
        Route("/api/v1/auth/me", CurrentKey(), {"GET": PREP_OR_CHECK}),
    ]
