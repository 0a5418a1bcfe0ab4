"""Verifying a run: re-hash its artifacts, and (``rerun``) rebuild it from what its manifest
records and compare every byte.

The rebuild replays the recorded request (:meth:`RunCreateRequest.from_record`) with the
strategy version the identity records, so a run made before a strategy gained a new version
re-runs the code that made it. Each input is found again at its recorded path or, for an upload
(recorded under its file name), in RUNS_ROOT's uploads by its sha256.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantrun.layout import Layout
from quantrun.runs.builder import create_run
from quantrun.runs.manifest import MANIFEST_FILE
from quantrun.runs.reader import RunView
from quantrun.runs.registry import Registry
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings


@dataclass(frozen=True)
class VerifyReport:
    run_id: str
    problems: list[str]
    rerun_checked: bool
    rerun_differences: list[str]

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
        }


def rerun_request(view: RunView, settings: Settings) -> RunCreateRequest:
    """The request ``view``'s manifest records, with each input found again and the strategy
    version pinned to the one that made the run."""
    manifest = view.manifest
    if "dataset" in manifest.request:  # a run from a stored dataset: replayed on it
        return RunCreateRequest.from_record(
            manifest.request | {"strategy_version": manifest.identity.strategy.version}
        )
    paths = []
    for source in manifest.dataset.sources:
        candidate = Path(source.path)
        upload = settings.layout.upload(source.sha256)
        paths.append(str(candidate if candidate.is_file() or not upload.is_file() else upload))
    labels = [source.path for source in manifest.dataset.sources]
    return RunCreateRequest.from_record(
        manifest.request
        | {
            "paths": paths,
            "labels": labels,
            "strategy_version": manifest.identity.strategy.version,
        }
    )


def verify(registry: Registry, run_id: str, settings: Settings, *, rerun: bool) -> VerifyReport:
    """See the module docstring. ``run_id``: a full id or a unique prefix."""
    view = RunView.open(registry, run_id)
    problems = view.verify()
    differences: list[str] = []
    if rerun:
        request = rerun_request(view, settings)
        with tempfile.TemporaryDirectory(prefix="quantrun-rerun-") as tmp:
            if (
                request.dataset is not None
            ):  # the stored dataset, as it is (load_for_run verifies it)
                dataset_id = view.manifest.identity.dataset_id
                shutil.copytree(
                    settings.layout.dataset(dataset_id), Layout(Path(tmp)).dataset(dataset_id)
                )
            again = create_run(request, settings.model_copy(update={"runs_root": Path(tmp)}))
            if again.run_id != view.run_id:
                differences.append(f"rebuilt run id {again.run_id} differs")
            else:
                for name in [*view.manifest.artifact_names, MANIFEST_FILE]:
                    if (again.path / name).read_bytes() != view.read_bytes(name):
                        differences.append(f"{name}: bytes differ")
    return VerifyReport(view.run_id, problems, rerun, differences)
