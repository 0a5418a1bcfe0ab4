"""The web edge: FastAPI service, REST API and server-rendered pages. No domain logic here."""

from quantrun.web.app import create_app

__all__ = ["create_app"]
