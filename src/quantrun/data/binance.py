"""Binance's public data archive (``data.binance.vision``): monthly and daily kline zips.

The host lays archives out as ::

    data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip
    data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip          (USD-M)
    data/futures/cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2024-01-15.zip (COIN-M)

each beside ``<name>.zip.CHECKSUM`` holding ``<sha256>  <name>.zip``. Every zip holds one CSV of
the same stem in the Binance kline dialect (``data/dialect.py``: with or without a header row;
spot files since 2025 in epoch microseconds), which the strict ingest reads as it reads a local
file. The base URL is the setting ``binance_base_url`` (``QUANTRUN_BINANCE_BASE_URL``).
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, field_validator

from quantrun.data.dialect import Format
from quantrun.data.provider import Archive, FetchRequest, Provider
from quantrun.errors import ErrorCode, error

if TYPE_CHECKING:
    from quantrun.settings import Settings

__all__ = ["BinanceFetchRequest", "BinanceProvider", "Market"]

#: Binance symbols: upper-case letters and digits, with ``_`` in COIN-M names (BTCUSD_PERP).
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,31}$")


class Market(enum.StrEnum):
    SPOT = "spot"
    UM = "um"
    CM = "cm"


#: market -> the folder under ``data/`` that holds its archives.
MARKET_FOLDERS: dict[Market, str] = {
    Market.SPOT: "spot",
    Market.UM: "futures/um",
    Market.CM: "futures/cm",
}


class BinanceFetchRequest(FetchRequest):
    """A fetch from Binance's public archive: the market, then the common fields."""

    market: Market = Field(
        description="spot, um (USD-M futures) or cm (COIN-M futures).",
    )

    @field_validator("symbol")
    @classmethod
    def _binance_symbol(cls, value: str) -> str:
        if not _SYMBOL.match(value):
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                f"invalid Binance symbol {value[:40]!r}",
                hint="Binance names symbols in upper case, letters and digits (BTCUSDT; "
                "COIN-M: BTCUSD_PERP).",
            )
        return value


class BinanceProvider(Provider):
    """Kline archives from ``data.binance.vision`` (or a mirror with the same layout)."""

    name: ClassVar[str] = "binance"
    summary: ClassVar[str] = "Binance's public kline archives: spot, USD-M and COIN-M futures."
    request_model: ClassVar[type[FetchRequest]] = BinanceFetchRequest
    dialect: ClassVar[Format] = Format.BINANCE

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> BinanceProvider:
        return cls(settings.binance_base_url)

    def archives(self, request: FetchRequest) -> list[Archive]:
        assert isinstance(request, BinanceFetchRequest)
        cadence = "daily" if request.daily else "monthly"
        folder = (
            f"data/{MARKET_FOLDERS[request.market]}/{cadence}/klines/"
            f"{request.symbol}/{request.interval}"
        )
        out = []
        for period in request.periods():
            stem = f"{request.symbol}-{request.interval}-{period}"
            path = f"{folder}/{stem}.zip"
            out.append(
                Archive(
                    name=f"{stem}.zip",
                    period=period,
                    url=f"{self.base_url}/{path}",
                    checksum_url=f"{self.base_url}/{path}.CHECKSUM",
                    cache_path=path,
                    member=f"{stem}.csv",
                )
            )
        return out

    def parse_checksum(self, archive: Archive, published: bytes) -> str:
        return self.checksum_from_line(archive, published)
