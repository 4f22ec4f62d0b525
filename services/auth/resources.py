from __future__ import annotations

import falcon


class CurrentKey:
    """The calling key as the API sees it: tenant, scopes, limits and display prefix."""

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
