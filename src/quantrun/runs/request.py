"""``RunCreateRequest``: the contract of run creation, the same for CLI, API, web and re-runs.

Every field is declared here once, with its default, its description and how it appears on
the edges (:class:`~quantrun.fields.Edge`): the CLI's ``runs create`` options, the web form and
``POST /api/v1/runs`` fields, the Python API's keywords and the docs all derive from it. The
model refuses what no edge may send (two risk choices at once, an unknown format);
:meth:`RunCreateRequest.resolve` then checks every choice against its registry (strategy,
params, risk level, costs, timeframe, window) before any data is read, so a bad request fails
fast and writes nothing.

The manifest records the request (:meth:`RunCreateRequest.record`) as it was recorded since
the first runs: a field added later appears there only when it is set, so existing runs
rebuild byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import Field, ValidationInfo, model_validator

from quantrun.data.request import IngestRequest, InputOptions, check_symbol
from quantrun.data.timeframe import TIMEFRAMES, Timeframe
from quantrun.engine.risk import (
    RISK_LEVELS,
    Costs,
    RiskConfig,
    costs_from,
    risk_from_file,
    risk_from_level,
    risk_from_mapping,
)
from quantrun.errors import ErrorCode, error
from quantrun.fields import MAPPING, Edge

if TYPE_CHECKING:
    # The strategy layer loads numpy and polars: the CLI imports this module to derive its
    # options, so the registry is imported when a request is resolved.
    from collections.abc import Callable

    from quantrun.strategies.base import Strategy, StrategyParams
    from quantrun.strategies.source import StrategySource
    from quantrun.strategies.store import FoundStrategy

    #: Finds the strategy a request names: (id, version or None) -> its class and its code.
    StrategyFinder: TypeAlias = Callable[[str, str | None], FoundStrategy]


DEFAULT_TIMEFRAME = "15m"
DEFAULT_RISK_LEVEL = "moderate"
RISK_CHOICES = ("risk", "risk_file", "risk_config")
#: Context flag for :meth:`RunCreateRequest.from_record`: a request read back from a manifest
#: or job file is replayed as recorded, not judged by rules added after it was made.
RECORDED = "recorded"


#: Fields every manifest and job file has recorded since the first runs. A field added later
#: is recorded only when it differs from its default, so old records stay byte for byte.
ORIGINAL_FIELDS = frozenset(
    {
        "paths",
        "labels",
        "symbol",
        "timeframe",
        "strategy",
        "params",
        "risk",
        "risk_config",
        "risk_file",
        "commission_bps",
        "slippage_bps",
        "cash",
        "start",
        "end",
        "base_timeframe",
        "format",
        "timezone",
        "sort",
        "drop_exact_duplicates",
    }
)
#: Fields the manifest never records in its ``request``: the labels replace the paths, and the
#: version is part of the identity (``identity.strategy.version``).
#: The artifact schema is the manifest's own ``schema_version``; the resampling rules are the
#: identity's ``resample_rules_version``.
NOT_IN_MANIFEST = frozenset(
    {"labels", "strategy_version", "identity_schema", "artifact_schema", "resample_rules"}
)


def _timeframe_names() -> list[str]:
    return list(TIMEFRAMES)


def _risk_levels() -> list[str]:
    return list(RISK_LEVELS)


class RunCreateRequest(InputOptions):
    """A request to create one run. ``paths`` are recorded as given, outside the identity.

    The input options (``format``, ``timezone``, ``sort``, ``drop_exact_duplicates``) come
    from :class:`~quantrun.data.ingest.InputOptions`, shared with ``data ingest``.
    """

    paths: Annotated[
        list[str],
        Edge(argument=True, web=False, why="the web takes the file itself as the upload part"),
    ] = Field(
        default_factory=list,
        description="CSV file(s), concatenated in order (or --dataset instead).",
    )
    dataset: str | None = Field(
        default=None,
        description="A stored dataset's id, or a unique prefix of 8+ hex characters, instead "
        "of files (`quantrun data list` lists them; `data fetch --json` prints one).",
    )
    labels: Annotated[
        list[str] | None,
        Edge(
            cli=False,
            web=False,
            why="set by the web edge to the upload's file name (API callers may set it)",
        ),
    ] = Field(
        default=None,
        description="What to record as each input's path in the manifest (e.g. an upload's "
        "original file name); defaults to the paths as given.",
    )
    symbol: str = Field(description="Instrument name, e.g. BTCUSDT.")
    timeframe: Annotated[str, Edge(choices=_timeframe_names)] = Field(
        default=DEFAULT_TIMEFRAME,
        description="Bar length the strategy runs on (resampled from the data).",
    )
    strategy: str = Field(description="Strategy id (see `quantrun strategies list`).")
    strategy_version: str | None = Field(
        default=None,
        description="Strategy version to run (default: the current one; older versions stay "
        "runnable).",
    )
    identity_schema: Annotated[
        int | None,
        Edge(
            cli=False,
            web=False,
            why="set by `runs verify --rerun` to rebuild a run with the identity rules it was "
            "made with",
        ),
    ] = Field(
        default=None,
        description="The identity rules to build with (default: the current ones).",
    )
    artifact_schema: Annotated[
        int | None,
        Edge(
            cli=False,
            web=False,
            why="set by `runs verify --rerun` to rebuild a run with the artifact formats it was "
            "made with",
        ),
    ] = Field(
        default=None,
        description="The artifact formats to write (default: the current ones).",
    )
    resample_rules: Annotated[
        int | None,
        Edge(
            cli=False,
            web=False,
            why="set by `runs verify --rerun` to rebuild a run with the resampling rules it was "
            "made with",
        ),
    ] = Field(
        default=None,
        description="The resampling rules to follow (default: the current ones).",
    )
    params: Annotated[
        dict[str, Any],
        Edge(flag="--param", kind=MAPPING, malformed=ErrorCode.STRATEGY_PARAMS_INVALID),
    ] = Field(
        default_factory=dict,
        description="Strategy parameters: name=value on the command line (repeat), a JSON "
        "object in a form.",
    )
    risk: Annotated[str | None, Edge(choices=_risk_levels)] = Field(
        default=DEFAULT_RISK_LEVEL,
        description="Named risk level (conservative, moderate, aggressive).",
    )
    risk_config: Annotated[
        dict[str, Any] | None,
        Edge(
            cli=False,
            web=False,
            why="a risk config object from Python; the CLI reads the same fields from "
            "--risk-file and the form offers the named levels",
        ),
    ] = Field(
        default=None,
        description="Custom risk config (the fields of a risk file); instead of `risk`.",
    )
    risk_file: Annotated[
        str | None,
        Edge(web=False, why="a path on the server's disk: the web never reads server paths"),
    ] = Field(default=None, description="JSON risk file, instead of a named level.")
    commission_bps: float | None = Field(default=None, description="Commission per fill (bps).")
    slippage_bps: float | None = Field(default=None, description="Slippage per fill (bps).")
    cash: float | None = Field(default=None, description="Initial cash (default 10000).")
    start: str | None = Field(default=None, description="First bar included, ISO-8601 with offset.")
    end: str | None = Field(default=None, description="Bars opening at or after this are excluded.")
    base_timeframe: Annotated[str, Edge(choices=_timeframe_names)] = Field(
        default="1m", description="The file's own bar length."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_risk_choice(cls, data: Any, info: ValidationInfo) -> Any:
        """A named level, a risk file or a risk config: at most one is given
        (RUN_RISK_CONFLICT). A request read back from a record is replayed as recorded.

        The level is recorded as None beside a risk file (as the CLI always recorded it), and
        keeps its default beside a risk config (as the Python API always recorded it), so
        requests made before this rule still record the same bytes; the config wins either way.
        """
        if not isinstance(data, dict) or (info.context or {}).get(RECORDED):
            return data
        given = [name for name in RISK_CHOICES if data.get(name) not in (None, "")]
        if len(given) > 1:
            names = " and ".join(f"`{name}`" for name in given)
            raise error(
                ErrorCode.RUN_RISK_CONFLICT, f"{names} were given together; a run takes one"
            )
        if given == ["risk_file"]:
            return {**data, "risk": None}
        return data

    @model_validator(mode="after")
    def _files_or_dataset(self) -> RunCreateRequest:
        """Input files or a stored dataset: exactly one. A dataset was read with its own
        input options (recorded in it), so none may be given beside it; ``base_timeframe``
        must name the dataset's bar length (the builder checks it)."""
        if bool(self.paths) == (self.dataset is not None):
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                "give input file(s) or --dataset ID, not both"
                if self.paths
                else "no input: give CSV file(s) or --dataset ID",
            )
        if self.dataset is not None:
            given = [
                name
                for name in InputOptions.model_fields
                if name in self.model_fields_set
                and getattr(self, name) != type(self).model_fields[name].get_default()
            ]
            if given:
                raise error(
                    ErrorCode.USAGE_INVALID_OPTION,
                    f"{', '.join('--' + g.replace('_', '-') for g in given)} read files; a "
                    "stored dataset was read with its own (they are recorded in it)",
                )
        return self

    @classmethod
    def from_record(cls, recorded: dict[str, Any]) -> RunCreateRequest:
        """A request read back from a manifest or a job file, exactly as it was recorded."""
        return cls.model_validate(recorded, context={RECORDED: True})

    def canonical(self) -> dict[str, Any]:
        """The request as JSON for job files and job ids: every original field, and a later
        field only when set."""
        data = self.model_dump(mode="json")
        fields = RunCreateRequest.model_fields
        return {
            name: value
            for name, value in data.items()
            if name in ORIGINAL_FIELDS
            or value != fields[name].get_default(call_default_factory=True)
        }

    def record(self, params: StrategyParams) -> dict[str, Any]:
        """What the manifest records as the request: parameters as validated (the CLI's "5" and
        the API's 5 are the same request) and the inputs under their labels."""
        data = {k: v for k, v in self.canonical().items() if k not in NOT_IN_MANIFEST}
        return data | {"params": params.model_dump(mode="json"), "paths": self.source_labels()}

    def source_labels(self) -> list[str]:
        """Each input as the manifest names it: its label when given, else its path."""
        if self.labels is not None and len(self.labels) == len(self.paths):
            return list(self.labels)
        return list(self.paths)

    def ingest_request(self) -> IngestRequest:
        """The ingest of this run's input files."""
        options = {name: getattr(self, name) for name in InputOptions.model_fields}
        return IngestRequest(
            paths=self.paths, symbol=self.symbol, timeframe=self.base_timeframe, **options
        )

    def resolve(self, find: StrategyFinder | None = None) -> ResolvedRequest:
        """Check every choice against its registry; raise a usage error naming the first bad one.
        ``find``: where strategies are looked up (default: the built-ins; a build passes the
        RUNS_ROOT's lookup, which adds the user's strategies and entry points)."""
        from quantrun.data.timestamps import check_timezone
        from quantrun.strategies.registry import validate_params
        from quantrun.strategies.store import builtin_finder

        timeframe = Timeframe.parse(self.timeframe)
        base = Timeframe.parse(self.base_timeframe)
        if not timeframe.is_multiple_of(base):
            raise error(
                ErrorCode.RESAMPLE_DOWNWARD,
                f"cannot run on {timeframe.name} bars from {base.name} data",
            )
        check_symbol(self.symbol)
        found = (find or builtin_finder)(self.strategy, self.strategy_version)
        strategy = found.cls
        params = validate_params(strategy, self.params)
        if self.risk_config is not None:
            risk, level = risk_from_mapping(self.risk_config), None
        elif self.risk_file is not None:
            risk, level = risk_from_file(Path(self.risk_file)), None
        else:
            level = self.risk or DEFAULT_RISK_LEVEL
            risk = risk_from_level(level)
        costs = costs_from(
            commission_bps=self.commission_bps,
            slippage_bps=self.slippage_bps,
            initial_cash=self.cash,
        )
        if self.timezone is not None:
            check_timezone(self.timezone)
        start = _parse_bound(self.start, "start")
        end = _parse_bound(self.end, "end")
        if start is not None and end is not None and start >= end:
            raise error(
                ErrorCode.RUN_WINDOW_INVALID, f"start {self.start} is not before end {self.end}"
            )
        return ResolvedRequest(
            self, strategy, found.source, timeframe, base, params, risk, level, costs, start, end
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_bound(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise error(ErrorCode.RUN_WINDOW_INVALID, f"--{name} {value!r} is not ISO-8601") from None
    if moment.tzinfo is None:
        raise error(
            ErrorCode.RUN_WINDOW_INVALID, f"--{name} {value!r} has no offset; add Z or +HH:MM"
        )
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class ResolvedRequest:
    request: RunCreateRequest
    strategy: type[Strategy]
    #: The strategy's code (its sha256 is in the identity from identity schema 2 on).
    source: StrategySource
    timeframe: Timeframe
    base_timeframe: Timeframe
    params: StrategyParams
    risk: RiskConfig
    risk_level: str | None
    costs: Costs
    start_micros: int | None
    end_micros: int | None
