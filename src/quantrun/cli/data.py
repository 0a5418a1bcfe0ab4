"""`quantrun data ...`: validate, store and list datasets."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from quantrun.api import (
    fetch_dataset,
    ingest_file,
    inspect_file,
    list_datasets,
    quality_summary,
    refused_report,
)
from quantrun.cli.base import (
    _echo_summary,
    _emit_json,
    _settings,
    exit_after_report,
    handles_errors,
    json_option,
    main,
    runs_root_option,
)
from quantrun.cli.options import request_data, request_options
from quantrun.data.provider import (
    SILENT,
    Archive,
    DownloadHook,
    FetchProgress,
    Provider,
    providers,
)
from quantrun.data.request import IngestRequest
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.fields import validated


@main.group()
def data() -> None:
    """Validate, store and list datasets."""


@data.command("ingest")
@request_options(IngestRequest)
@runs_root_option
@json_option
@handles_errors
def data_ingest(runs_root: str | None, as_json: bool, **values: Any) -> None:
    """Validate CSV file(s) and store them as one canonical dataset under RUNS_ROOT."""
    settings = _settings(runs_root)
    request = validated(IngestRequest, request_data(IngestRequest, values))
    result = ingest_file(request.paths, settings, **request.model_dump(exclude={"paths"}))
    if as_json:
        _emit_json(result.to_dict())
        return
    verb = "stored" if result.created else "already stored"
    click.echo(f"dataset {result.dataset_id} ({verb})")
    click.echo(f"  path     {result.path}")
    _echo_summary(quality_summary(result.quality))


@data.command("inspect")
@request_options(IngestRequest)
@runs_root_option
@json_option
@handles_errors
def data_inspect(runs_root: str | None, as_json: bool, **values: Any) -> None:
    """Run every check and print the report; writes nothing. Exit 3 if a check fails."""
    settings = _settings(runs_root)
    request = validated(IngestRequest, request_data(IngestRequest, values))
    try:
        inspection = inspect_file(request.paths, settings, **request.model_dump(exclude={"paths"}))
    except QuantrunError as exc:
        if not as_json:
            raise
        # The same shape as a row-level failure: the file as a whole was refused.
        _emit_json(refused_report(exc).to_dict())
        sys.exit(exc.exit_code)
    report = inspection.to_dict()
    failure = inspection.error
    if as_json:
        _emit_json(report)
    else:
        for source in report["sources"]:
            header = "header" if source["has_header"] else "no header"
            click.echo(
                f"{source['name']}: {source['format']} ({header}), {source['rows']:,} rows, "
                f"sha256 {source['sha256'][:16]}…"
            )
            if "time_column" in source:
                click.echo(f"time column: {_time_column(source['time_column'])}")
        click.echo(f"timestamps: {', '.join(report['timestamp_kinds']) or '-'}")
        if "sessions" in report:
            click.echo(f"sessions: {_sessions(report['sessions'])}")
        click.echo("checks:")
        for check in report["checks"]:
            mark = {"pass": "ok  ", "fail": "FAIL", "repaired": "fix ", "skipped": "skip"}
            line = f"  {mark[check['status']]} {check['id']:<24} {check['description']}"
            if check["status"] != "pass":
                line += f"  [{check['count']:,} row(s)"
                if check.get("first_rows"):
                    line += f"; first: {', '.join(check['first_rows'][:5])}"
                line += "]"
                if check.get("note"):
                    line += f" {check['note']}"
            click.echo(line)
        if report["quality"] is not None:
            click.echo(f"dataset id (if ingested): {report['dataset_id']}")
            _echo_summary(quality_summary(report["quality"]))
    if failure is not None:
        exit_after_report(failure, as_json)


def _time_column(chosen: dict[str, Any]) -> str:
    if chosen["rule"] == "pandas-index":
        return f"column {chosen['column']} (unnamed: a pandas index)"
    return f"column {chosen['column']} {chosen['name']!r} (--time-column)"


def _sessions(sessions: dict[str, Any]) -> str:
    parts = ["session dates (bars labelled by their date)"] if sessions["session_dates"] else []
    if sessions["calendar"] is not None:
        parts.append(f"calendar {sessions['calendar']}")
    return ", ".join(parts)


@data.command("list")
@runs_root_option
@json_option
@handles_errors
def data_list(runs_root: str | None, as_json: bool) -> None:
    """List the datasets stored under RUNS_ROOT."""
    settings = _settings(runs_root)
    rows = list_datasets(settings)
    if as_json:
        _emit_json({"datasets": [row.to_dict() for row in rows]})
        return
    if not rows:
        click.echo(f"no datasets under {settings.runs_root}")
        return
    for row in rows:
        click.echo(
            f"{row.dataset_id[:16]}  {row.symbol or '-':<10} {row.timeframe:>4} "
            f"{row.rows:>10,} rows  {row.first_bar} → {row.last_bar}{_provenance(row.sources)}"
        )


def _provenance(sources: list[dict[str, Any]]) -> str:
    """Where a listed dataset came from, in a few words."""
    if not sources:
        return ""
    fetched = [s for s in sources if "url" in s]
    if fetched:
        hosts = sorted({str(s["url"]).split("/")[2] for s in fetched})
        count = len(fetched)
        return f"  ← {fetched[0]['provider']}: {count} archive{'s' if count > 1 else ''} from " + (
            ", ".join(hosts)
        )
    names = [str(s["name"]) for s in sources]
    return "  ← " + ", ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")


@data.group("fetch")
def data_fetch() -> None:
    """Download public archives, verify them and store one dataset."""


def _fetch_command(name: str, provider: type[Provider]) -> None:
    """Register ``data fetch <name>``, its options derived from the provider's request."""
    model = provider.request_model

    @data_fetch.command(
        name,
        help=f"Fetch {provider.summary}\n\nDownloads each archive of the range and its published "
        f"checksum (or finds it verified in RUNS_ROOT/cache/{name}), verifies the archive "
        "before unzipping it and stores the CSVs as one dataset, through the same checks as "
        "`data ingest`. A second fetch of the same range downloads nothing.",
        short_help=provider.summary,
    )
    @request_options(model)
    @runs_root_option
    @json_option
    @handles_errors
    def fetch_command(runs_root: str | None, as_json: bool, **values: Any) -> None:
        settings = _settings(runs_root)
        request = validated(model, request_data(model, values))
        try:
            with _FetchBars(enabled=not as_json) as bars:
                result = fetch_dataset(request, settings, progress=bars)
        except KeyboardInterrupt:
            raise error(
                ErrorCode.FETCH_INTERRUPTED,
                "interrupted; nothing partial was kept and no dataset was stored",
            ) from None
        if as_json:
            _emit_json(result.to_dict())
            return
        verb = "stored" if result.created else "already stored"
        click.echo(f"dataset {result.dataset_id} ({verb})")
        click.echo(f"  path     {result.path}")
        cached = len(result.archives) - result.downloaded
        click.echo(
            f"  archives {len(result.archives)} verified ({result.downloaded} downloaded, "
            f"{cached} from the cache)"
        )
        for item in result.archives:
            click.echo(f"    {item.archive.name}  sha256 {item.sha256[:16]}…  {item.bytes:,} bytes")
        _echo_summary(quality_summary(result.ingested.quality))


for _name, _provider in providers().items():
    _fetch_command(_name, _provider)


class _FetchBars(FetchProgress):
    """Rich progress bars on a terminal: one for the archives, one per download; silent
    otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._overall: Any = None
        self._downloads: dict[str, Any] = {}

    def __enter__(self) -> _FetchBars:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                _amount_column(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def planned(self, archives: Sequence[Archive]) -> None:
        if self._progress is not None:
            self._overall = self._progress.add_task("archives", total=len(archives))

    def cached(self, archive: Archive) -> None:
        if self._progress is not None:
            self._progress.advance(self._overall)

    def downloading(self, archive: Archive) -> DownloadHook:
        if self._progress is None:
            return SILENT
        task = self._progress.add_task(archive.name, total=None, unit="bytes")
        self._downloads[archive.name] = task
        return _DownloadBar(self._progress, task)

    def verified(self, archive: Archive) -> None:
        if self._progress is not None:
            self._progress.remove_task(self._downloads.pop(archive.name))
            self._progress.advance(self._overall)

    def ingesting(self) -> None:
        if self._progress is not None:
            self._progress.update(self._overall, description="ingesting")


class _DownloadBar:
    """One download's bar, in bytes."""

    def __init__(self, progress: Any, task: Any) -> None:
        self.progress = progress
        self.task = task

    def started(self, total: int | None) -> None:
        self.progress.reset(self.task, total=total)  # a retry starts over

    def advanced(self, size: int) -> None:
        self.progress.advance(self.task, size)


def _amount_column() -> Any:
    from rich.progress import DownloadColumn, ProgressColumn, Task
    from rich.text import Text

    class AmountColumn(ProgressColumn):
        """Bytes for a download, 'n/m' for the archives."""

        def __init__(self) -> None:
            super().__init__()
            self.download = DownloadColumn()

        def render(self, task: Task) -> Text:
            if task.fields.get("unit") == "bytes":
                return self.download.render(task)
            return Text(f"{int(task.completed)}/{int(task.total or 0)}")

    return AmountColumn()
