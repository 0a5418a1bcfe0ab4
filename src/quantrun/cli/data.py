"""`quantrun data ...`: validate, store and list datasets."""

from __future__ import annotations

import sys
from typing import Any

import click

from quantrun.api import (
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
from quantrun.data.request import IngestRequest
from quantrun.errors import QuantrunError
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
        click.echo(f"timestamps: {', '.join(report['timestamp_kinds']) or '-'}")
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
            f"{row.rows:>10,} rows  {row.first_bar} → {row.last_bar}"
        )
