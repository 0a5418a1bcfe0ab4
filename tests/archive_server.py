"""A local archive host for the provider tests: Binance's URL layout on 127.0.0.1, no internet.

:class:`ArchiveServer` serves whatever bytes a test publishes at a path (a zip, its
``.CHECKSUM``), logs every request, and can misbehave per path: answer an HTTP status a few
times, cut a body short, or stall in the middle of one until released. The builders write bars
in the Binance kline layout (12 columns, epoch-ms, with a header row as the real files have)
and zip them as the host does::

    with ArchiveServer() as server:
        server.publish_binance("um", "BTCUSDT", "1m", "2024-01", kline_csv(bars))
        settings = Settings(runs_root=..., binance_base_url=server.base_url)
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import polars as pl

from quantrun.data.binance import MARKET_FOLDERS, Market
from quantrun.data.dialect import BINANCE_COLUMNS

REAL_HEADER = ",".join(BINANCE_COLUMNS)


def kline_csv(bars: pl.DataFrame, header: bool = True) -> bytes:
    """Canonical ``bars`` (ts epoch µs) as a Binance kline CSV: ms open and close times, the
    extra columns filled as the exchange fills them."""
    frame = bars.select(
        (pl.col("ts") // 1000).alias("open_time"),
        "open",
        "high",
        "low",
        "close",
        "volume",
        (pl.col("ts") // 1000 + 59_999).alias("close_time"),
        (pl.col("close") * pl.col("volume")).round(4).alias("quote_volume"),
        pl.lit(7).alias("count"),
        (pl.col("volume") / 2).round(4).alias("taker_buy_volume"),
        (pl.col("close") * pl.col("volume") / 2).round(4).alias("taker_buy_quote_volume"),
        pl.lit(0).alias("ignore"),
    )
    sink = io.BytesIO()
    frame.write_csv(sink, include_header=header, float_precision=None, line_terminator="\n")
    return sink.getvalue()


def month_bars(bars: pl.DataFrame, period: str) -> pl.DataFrame:
    """The bars whose UTC open time falls in ``period`` (``2024-01`` or ``2024-01-15``)."""
    fmt = "%Y-%m-%d" if len(period) == 10 else "%Y-%m"
    stamp = pl.col("ts").cast(pl.Datetime("us", "UTC")).dt.strftime(fmt)
    return bars.filter(stamp == period)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, data)
    return sink.getvalue()


def checksum_line(data: bytes, name: str) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


def archive_path(market: str, symbol: str, interval: str, period: str) -> str:
    """The host's path of one kline archive (no leading slash)."""
    cadence = "daily" if len(period) == 10 else "monthly"
    folder = MARKET_FOLDERS[Market(market)]
    return f"data/{folder}/{cadence}/klines/{symbol}/{interval}/{symbol}-{interval}-{period}.zip"


@dataclass
class Misbehaviour:
    """How the server treats one path. ``statuses``: answered first, one per request."""

    statuses: list[int] = field(default_factory=list)
    #: Send only this many body bytes (with the full Content-Length), then close.
    truncate_at: int | None = None
    #: Send this many body bytes, then wait for ``release`` (``stalled`` is set meanwhile).
    stall_at: int | None = None
    #: Wait for ``release`` before answering at all.
    stall_before_headers: bool = False
    #: How many requests the truncation or stall applies to (None: every one).
    times: int | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class ArchiveServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving published bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.misbehaviours: dict[str, Misbehaviour] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                return None  # quiet

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Release every stalled answer, then stop serving (also after a failed test)."""
        for misbehaviour in self.misbehaviours.values():
            misbehaviour.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, path: str, data: bytes) -> None:
        self.files["/" + path.lstrip("/")] = data

    def publish_archive(self, path: str, members: dict[str, bytes] | bytes) -> bytes:
        """A zip of ``members`` (or a ready zip's bytes) at ``path`` and its ``.CHECKSUM``
        beside it; the zip's bytes."""
        data = members if isinstance(members, bytes) else zip_bytes(members)
        self.publish(path, data)
        self.publish(path + ".CHECKSUM", checksum_line(data, path.rsplit("/", 1)[-1]))
        return data

    def publish_binance(
        self, market: str, symbol: str, interval: str, period: str, csv: bytes
    ) -> str:
        """One kline archive as Binance lays it out; its path."""
        path = archive_path(market, symbol, interval, period)
        self.publish_archive(path, {f"{symbol}-{interval}-{period}.csv": csv})
        return path

    def misbehave(self, path: str, misbehaviour: Misbehaviour) -> Misbehaviour:
        self.misbehaviours["/" + path.lstrip("/")] = misbehaviour
        return misbehaviour

    def requested(self, suffix: str = "") -> list[str]:
        with self._lock:
            return [p for p in self.requests if p.endswith(suffix)]

    # -- answering -----------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(path)
            misbehaviour = self.misbehaviours.get(path)
            status = misbehaviour.statuses.pop(0) if misbehaviour and misbehaviour.statuses else 0
            times = misbehaviour.times if misbehaviour is not None else None
            if not status and misbehaviour is not None and times is not None:
                if times == 0:
                    misbehaviour = None  # done misbehaving: answer normally
                else:
                    misbehaviour.times = times - 1
        if misbehaviour is not None and misbehaviour.stall_before_headers:
            misbehaviour.stalled.set()
            misbehaviour.release.wait()
            return
        if status:
            handler.send_error(status)
            return
        data = self.files.get(path)
        if data is None:
            handler.send_error(404)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            self._body(handler, data, misbehaviour)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away (a Ctrl-C, a timeout): nothing to answer

    @staticmethod
    def _body(
        handler: BaseHTTPRequestHandler, data: bytes, misbehaviour: Misbehaviour | None
    ) -> None:
        if misbehaviour is not None and misbehaviour.truncate_at is not None:
            handler.wfile.write(data[: misbehaviour.truncate_at])
            handler.wfile.flush()
            handler.close_connection = True
            return
        if misbehaviour is not None and misbehaviour.stall_at is not None:
            handler.wfile.write(data[: misbehaviour.stall_at])
            handler.wfile.flush()
            misbehaviour.stalled.set()
            misbehaviour.release.wait()
            handler.close_connection = True
            return
        handler.wfile.write(data)


def all_files(root: Path) -> Iterator[Path]:
    """Every file under ``root`` (none when it does not exist)."""
    if root.exists():
        yield from (p for p in root.rglob("*") if p.is_file())
