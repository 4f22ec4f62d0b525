"""HTTP resources of the auth service."""

from __future__ import annotations

from typing import ClassVar

import falcon

from libs.http.openapi import Operations, json_content, ref


class CurrentKey:
    """The calling key as the API sees it: tenant, scopes, limits and display prefix."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "The calling API key: tenant, scopes, limits, prefix",
            "responses": {"200": {"description": "The key", "content": json_content(ref("CurrentKey"))}},
        }
    }

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = req.context.principal
        resp.media = {
            "tenant": {"id": principal.tenant_id, "name": principal.tenant_name},
            "key": {
                "prefix": principal.key_prefix,
                "label": principal.label,
                "scopes": sorted(principal.scopes),
                "expires_at": principal.expires_at,
            },
            "rate_limits": {
                "prep_per_minute": principal.rate_limits["prep"],
                "check_per_minute": principal.rate_limits["check"],
            },
        }
