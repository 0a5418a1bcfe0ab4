"""The kill switch: one switch that stops new run creation everywhere, fail-closed.

State lives in ``RUNS_ROOT/control/killswitch.json``; every change is appended to
``RUNS_ROOT/control/audit.jsonl`` (time, actor, action, reason). The builder checks the switch
when a run starts and again just before it publishes, so neither the CLI, the API nor a queued
job can get around it. A state file that cannot be read or parsed counts as **engaged**.

    KillSwitch(settings.runs_root).engage(reason="bad data feed", actor="alice")
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from quantrun.canonical import canonical_bytes, canonical_file_bytes
from quantrun.durable import replace_file
from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout
from quantrun.logs import get_logger

log = get_logger(__name__)

MAX_REASON = 500


@dataclass(frozen=True)
class SwitchState:
    engaged: bool
    reason: str | None
    actor: str | None
    changed_at: str | None
    readable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "engaged": self.engaged,
            "reason": self.reason,
            "actor": self.actor,
            "changed_at": self.changed_at,
            "state_readable": self.readable,
        }


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


@dataclass(frozen=True)
class KillSwitchStatus:
    state: SwitchState
    history: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.to_dict(), "history": self.history}


class KillSwitch:
    def __init__(self, runs_root: Path) -> None:
        layout = Layout(runs_root)
        self.layout = layout
        self.control = layout.control
        self.state_path = layout.killswitch_state
        self.audit_path = layout.killswitch_audit

    def state(self) -> SwitchState:
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return SwitchState(False, None, None, None)
        except (OSError, ValueError, UnicodeDecodeError):
            return SwitchState(True, "the kill-switch state file is unreadable", None, None, False)
        if not isinstance(raw, dict) or not isinstance(raw.get("engaged"), bool):
            return SwitchState(True, "the kill-switch state file is corrupt", None, None, False)
        return SwitchState(
            raw["engaged"], raw.get("reason"), raw.get("actor"), raw.get("changed_at")
        )

    def check(self) -> None:
        """Raise KILL_SWITCH_ENGAGED when run creation is switched off."""
        state = self.state()
        if state.engaged:
            raise error(
                ErrorCode.KILL_SWITCH_ENGAGED,
                f"run creation is stopped by the kill switch: {state.reason or 'no reason given'}",
                extra={"kill_switch": state.to_dict()},
            )

    def _set(self, engaged: bool, reason: str, actor: str | None) -> SwitchState:
        reason = reason.strip()
        if not reason:
            raise error(ErrorCode.USAGE_INVALID_OPTION, "a reason is required (--reason TEXT)")
        reason = reason[:MAX_REASON]
        who = actor or _actor()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.control.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.layout.killswitch_lock)):
            entry = {
                "at": now,
                "actor": who,
                "action": "on" if engaged else "off",
                "reason": reason,
            }
            with self.audit_path.open("ab") as audit:
                audit.write(canonical_bytes(entry) + b"\n")
                audit.flush()
                os.fsync(audit.fileno())
            state = {"engaged": engaged, "reason": reason, "actor": who, "changed_at": now}
            replace_file(self.state_path, canonical_file_bytes(state))
        log.info("killswitch.changed", engaged=engaged, actor=who, reason=reason)
        return self.state()

    def engage(self, reason: str, actor: str | None = None) -> SwitchState:
        return self._set(True, reason, actor)

    def release(self, reason: str, actor: str | None = None) -> SwitchState:
        return self._set(False, reason, actor)

    def status(self, history: int = 20) -> KillSwitchStatus:
        """The state and the most recent ``history`` audit entries (newest last)."""
        return KillSwitchStatus(self.state(), self.history(history))

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        try:
            lines = self.audit_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines[-limit:]:
            try:
                entries.append(json.loads(line))
            except ValueError:
                entries.append({"unreadable": line[:200]})
        return entries
