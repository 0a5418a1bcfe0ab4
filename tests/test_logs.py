"""quantrun.logs: the JSON lines it writes, and that structlog is imported only when a record is
actually written (D49)."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import structlog

from quantrun.logs import bound, configure, get_logger

STAMP = re.compile(r'"timestamp": "[0-9T:.+\-]+Z?"')


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure("info", out)
    try:
        yield out
    finally:
        configure("warning")


def _as_before(name: str) -> object:
    """The logger get_logger returned before D49: structlog wrapped at once, same processors."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def test_lines_are_the_same_json_as_an_eager_structlog_logger(stream: io.StringIO) -> None:
    lazy, eager = get_logger("quantrun.test_logs"), _as_before("quantrun.test_logs")
    for logger in (lazy, eager):
        with bound(job_id="j1"):
            logger.info("build.done", run_id="abc", bars=3, ms=1.5)  # type: ignore[attr-defined]
        logger.warning("jobs.interrupted", job_ids=["a", "b"])  # type: ignore[attr-defined]
        logger.debug("below.the.level", x=1)  # type: ignore[attr-defined]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    ours, before = lines[:2], lines[2:]
    assert [STAMP.sub("T", line) for line in ours] == [STAMP.sub("T", line) for line in before]
    first = json.loads(ours[0])
    assert first == first | {"event": "build.done", "level": "info", "job_id": "j1", "bars": 3}
    assert first["timestamp"].endswith("Z")
    assert "job_id" not in json.loads(ours[1])  # the binding ended with its block


def test_records_below_the_level_do_not_import_structlog() -> None:
    probe = (
        "import sys\n"
        "from quantrun.logs import configure, get_logger\n"
        "log = get_logger('quantrun.probe')\n"
        "log.info('dropped', a=1)\n"  # nothing configured: logging's default, warning
        "configure('warning')\n"
        "log.info('dropped', a=1)\n"
        "print('structlog' in sys.modules)\n"
        "configure('info')\n"
        "log.info('written', a=1)\n"
        "print('structlog' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
    (line,) = done.stderr.splitlines()
    assert json.loads(line) | {"timestamp": None} == {
        "event": "written",
        "a": 1,
        "level": "info",
        "timestamp": None,
    }
