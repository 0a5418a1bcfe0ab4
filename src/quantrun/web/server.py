"""Running the service with uvicorn (the only place that knows the ASGI server)."""

from __future__ import annotations

import uvicorn

from quantrun.settings import Settings
from quantrun.web.app import create_app


def run_server(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted. uvicorn re-raises SIGTERM after a clean shutdown."""
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
