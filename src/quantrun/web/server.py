"""Running the service with uvicorn (the only place that knows the ASGI server)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from quantrun.errors import ErrorCode, error
from quantrun.settings import Settings
from quantrun.web.app import create_app

WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def allowing_bind_host(settings: Settings, host: str) -> Settings:
    """Settings whose Host allowlist also names the specific address being served on
    (``--host 192.168.1.5`` answers to ``Host: 192.168.1.5``). Wildcards add nothing: the
    names clients will use are not known, QUANTRUN_ALLOWED_HOSTS must list them."""
    name = host.strip().lower()
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 literal, as it appears in a Host header
    if host in WILDCARDS or name in settings.allowed_host_names or "*" in settings.allowed_hosts:
        return settings
    return settings.model_copy(update={"allowed_hosts": f"{settings.allowed_hosts},{name}"})


def check_port(host: str, port: int) -> None:
    """Refuse early, in the error format, when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                f"cannot serve on {host}:{port}: {exc.strerror or type(exc).__name__}",
                hint="Pick another --port (or stop the program using this one).",
            ) from None


def run_server(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    announce: Callable[[], None] | None = None,
) -> None:
    """Serve until interrupted; ``announce`` runs once the address is known to be free (the
    CLI prints where to look). uvicorn re-raises SIGTERM after a clean shutdown."""
    check_port(host, port)
    if announce is not None:
        announce()
    app = create_app(allowing_bind_host(settings, host))
    # proxy_headers off: uvicorn would otherwise take the client address from X-Forwarded-For
    # sent by any loopback client, and one client could pose as many to the rate limit.
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
