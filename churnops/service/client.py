"""The client side of the service's admin API: ask a running service to reload its model.

It imports neither FastAPI nor the app: only httpx, when a reload is actually asked for.
"""

from __future__ import annotations

import time
from typing import Any

from churnops.core.errors import ServiceReloadError
from churnops.service.settings import ADMIN_TOKEN_ENV


def check_target(url: str | None, token: str | None) -> None:
    """Refuse, with ServiceReloadError, a reload that cannot work, before anything else happens."""
    if url is None:
        return
    if not url.startswith(("http://", "https://")):
        raise ServiceReloadError(f"reload URL {url!r}: expected an http:// or https:// URL")
    if not token:
        raise ServiceReloadError(
            f"reloading needs the service's admin token in ${ADMIN_TOKEN_ENV}; nothing was changed"
        )


def _trust_env(url: str) -> bool:
    """Proxy variables are for the outside world; a loopback service is reached directly."""
    import httpx

    host = httpx.URL(url).host
    return host not in {"127.0.0.1", "localhost", "::1"}


def reload_service(
    url: str,
    token: str,
    expected_md5: str,
    *,
    transport: Any = None,
    timeout: float = 60.0,
    health_attempts: int = 10,
    health_interval: float = 0.5,
) -> dict[str, Any]:
    """Ask a running service to reload its model and check that ``/health`` reports it.

    /health is polled a few times: a multi-worker service may answer from a worker still swapping models.

    Raises:
        ServiceReloadError: unreachable, token refused, or the service serves another model.
    """
    import httpx

    base = url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout, transport=transport, trust_env=_trust_env(base)) as client:
            resp = client.post(f"{base}/admin/reload", headers={"Authorization": f"Bearer {token}"})
            if resp.status_code in (401, 403):
                raise ServiceReloadError(f"{base}/admin/reload refused the admin token (HTTP {resp.status_code})")
            if resp.status_code == 404:
                raise ServiceReloadError(f"{base}/admin/reload not found (HTTP 404): is the service's admin token set?")
            if resp.status_code != 200:
                raise ServiceReloadError(f"{base}/admin/reload answered HTTP {resp.status_code}: {resp.text[:200]}")
            reloaded = _json_object(resp, "/admin/reload")
            version = None
            for attempt in range(health_attempts):
                health = client.get(f"{base}/health")
                if health.status_code == 200:
                    version = _json_object(health, "/health").get("model_version")
                    if version == expected_md5:
                        return {"reload": reloaded, "health_model_version": version}
                if attempt + 1 < health_attempts:
                    time.sleep(health_interval)
            raise ServiceReloadError(f"{base}/health reports model_version {version!r}, expected {expected_md5}")
    except httpx.HTTPError as err:
        raise ServiceReloadError(f"cannot reach {base}: {err.__class__.__name__}: {err}") from None


def _json_object(resp: Any, what: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise ServiceReloadError(f"{what} did not answer JSON") from None
    if not isinstance(data, dict):
        raise ServiceReloadError(f"{what} did not answer a JSON object")
    return data
