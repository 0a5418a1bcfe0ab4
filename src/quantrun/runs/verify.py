"""Verifying a run: re-hash its artifacts, and (``rerun``) rebuild it from what its manifest
records and compare every byte.

The rebuild replays the recorded request (:meth:`RunCreateRequest.from_record`) with the
strategy version the identity records, so a run made before a strategy gained a new version
re-runs the code that made it. Each input is found again at its recorded path or, for an upload
(recorded under its file name), in RUNS_ROOT's uploads by its sha256.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantrun.layout import Layout
from quantrun.runs.builder import STRATEGY_SOURCE, create_run
from quantrun.runs.manifest import MANIFEST_FILE
from quantrun.runs.reader import RunView
from quantrun.runs.registry import Registry
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings
from quantrun.strategies.source import StrategySource
from quantrun.strategies.store import FoundStrategy, builtin_finder, class_in, finder

if TYPE_CHECKING:
    from quantrun.runs.request import StrategyFinder


#: What a re-run compares when the strategy's code has moved on since the run: the artifacts
#: both versions of the code define the same way (the identity, and so the run id, differ).
#: (A run keeps the records in one of the two decision-record files, by its manifest schema.)
BEHAVIOUR_ARTIFACTS = (
    "trades.csv",
    "decision_records.jsonl",
    "decision_records.parquet",
    "metrics.json",
)


@dataclass(frozen=True)
class VerifyReport:
    run_id: str
    problems: list[str]
    rerun_checked: bool
    rerun_differences: list[str]
    #: What the re-run compared: every byte, or (the built-in's code moved on since the run)
    #: the trades, decisions and metrics only; None without a re-run.
    rerun_compared: str | None = None
    rerun_note: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not self.rerun_differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "problems": self.problems,
            "rerun_checked": self.rerun_checked,
            "rerun_differences": self.rerun_differences,
            "rerun_compared": self.rerun_compared,
            "rerun_note": self.rerun_note,
        }


def rerun_request(view: RunView, settings: Settings) -> RunCreateRequest:
    """The request ``view``'s manifest records, with each input found again and the strategy
    version, identity rules, artifact formats and resampling rules pinned to those that made
    the run."""
    manifest = view.manifest
    pins = {
        "strategy_version": manifest.identity.strategy.version,
        "identity_schema": manifest.identity.schema_version,
        "artifact_schema": manifest.schema_version,
        "resample_rules": manifest.identity.resample_rules_version,
    }
    if "dataset" in manifest.request:  # a run from a stored dataset: replayed on it
        return RunCreateRequest.from_record(manifest.request | pins)
    paths = []
    for source in manifest.dataset.sources:
        candidate = Path(source.path)
        upload = settings.layout.upload(source.sha256)
        paths.append(str(candidate if candidate.is_file() or not upload.is_file() else upload))
    labels = [source.path for source in manifest.dataset.sources]
    return RunCreateRequest.from_record(
        manifest.request | {"paths": paths, "labels": labels} | pins
    )


@dataclass(frozen=True)
class RunCode:
    """The code a re-run executes, and whether it is still the code that made the run."""

    find: StrategyFinder
    moved_on: str | None


def run_code(view: RunView, settings: Settings) -> RunCode:
    """The strategy code that made the run. A run under identity schema 2 keeps its code
    (``strategy_source.json``): a user's strategy re-runs from that copy, whatever happened to
    the file since; a built-in re-runs from the registry, and if its code no longer hashes to
    the recorded sha256 the code has moved on. A run under schema 1 predates stored code: it
    re-runs the registered built-in version it names."""
    strategy = view.manifest.identity.strategy
    if STRATEGY_SOURCE not in view.manifest.artifact_names:
        return RunCode(builtin_finder, None)
    stored = StrategySource.from_json(json.loads(view.read_bytes(STRATEGY_SOURCE)))
    if stored.kind not in ("builtin", "entry_point"):

        def from_the_run(strategy_id: str, version: str | None) -> FoundStrategy:
            return FoundStrategy(class_in(stored, strategy_id, version or ""), stored, "added")

        return RunCode(from_the_run, None)
    find: StrategyFinder = builtin_finder if stored.kind == "builtin" else finder(settings.layout)
    current = find(strategy.id, strategy.version)
    moved = None
    what = "built-in" if stored.kind == "builtin" else "installed package's strategy"
    if current.source.sha256 != strategy.source_sha256:
        moved = (
            f"the {what} {strategy.id} v{strategy.version} changed since this run "
            f"(code {(strategy.source_sha256 or '')[:12]} then, {current.source.sha256[:12]} "
            "now): compared the trades, decisions and metrics both define"
        )
    return RunCode(find, moved)


def verify(registry: Registry, run_id: str, settings: Settings, *, rerun: bool) -> VerifyReport:
    """See the module docstring. ``run_id``: a full id or a unique prefix."""
    view = RunView.open(registry, run_id)
    problems = view.verify()
    if not rerun:
        return VerifyReport(view.run_id, problems, False, [])
    differences: list[str] = []
    request = rerun_request(view, settings)
    code = run_code(view, settings)
    with tempfile.TemporaryDirectory(prefix="quantrun-rerun-") as tmp:
        if request.dataset is not None:
            # A run from a stored dataset rebuilds from that dataset as stored (the rebuild's
            # load_for_run verifies it again).
            dataset_id = view.manifest.identity.dataset_id
            shutil.copytree(
                settings.layout.dataset(dataset_id), Layout(Path(tmp)).dataset(dataset_id)
            )
        again = create_run(
            request, settings.model_copy(update={"runs_root": Path(tmp)}), find=code.find
        )
        if code.moved_on is not None:
            names: list[str] = [n for n in BEHAVIOUR_ARTIFACTS if n in view.manifest.artifact_names]
            compared = "trades, decisions and metrics"
        elif again.run_id != view.run_id:
            differences.append(f"rebuilt run id {again.run_id} differs")
            names = []
            compared = "bytes"
        else:
            names = [*view.manifest.artifact_names, MANIFEST_FILE]
            compared = "bytes"
        for name in names:
            if (again.path / name).read_bytes() != view.read_bytes(name):
                differences.append(f"{name}: bytes differ")
    return VerifyReport(view.run_id, problems, True, differences, compared, code.moved_on)
