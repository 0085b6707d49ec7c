"""The training config: YAML read with ``yaml.safe_load``, checked by pydantic.

Every key has a default except the data source (``data.csv`` or
``data.synthetic``). Any problem is an InputError naming the file and the key
path (``training.learning_rate``), what was wrong and what is allowed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from backprop.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyntheticConfig(_Strict):
    expr: str = Field(min_length=1)
    ranges: dict[str, tuple[float, float]]
    n: int = Field(1000, ge=2, le=10_000_000)  # 80 MB a column: past this, a memory error
    noise: float = Field(0.0, ge=0, allow_inf_nan=False)
    seed: Optional[int] = Field(None, ge=0)  # default: training.seed

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, ranges: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (lo, hi) in ranges.items():
            # high - low must be finite too: numpy draws low + (high - low) * u
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi
                    and math.isfinite(hi - lo)):
                raise ValueError(f"the range of {name} must be [low, high] with low < high, "
                                 f"both and high - low finite numbers, got [{lo}, {hi}]")
        return ranges


def _repeated(names: list[str]) -> list[str]:
    """The names given more than once, sorted (one pass: a list may name 100,000 columns)."""
    seen: set[str] = set()
    return sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]


class DataConfig(_Strict):
    csv: Optional[str] = None
    target: Union[str, list[str]] = "y"
    inputs: Optional[list[str]] = None
    # without inputs: every column of numbers but the target and these
    exclude: list[str] = []
    # text columns one-hot encoded (one input per category seen in training)
    categorical: list[str] = []
    synthetic: Optional[SyntheticConfig] = None
    delimiter: str = Field(",", min_length=1, max_length=1)  # one character; "\t" for TSV
    validation_split: float = Field(0.2, ge=0, lt=1)
    standardize: bool = True

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, d: str) -> str:
        if d in ('"', "\n", "\r") or d.isalnum():
            raise ValueError(f"{d!r} cannot separate cells; use a punctuation character or "
                             "\"\\t\" (tab)")
        return d

    @model_validator(mode="after")
    def _one_source(self) -> "DataConfig":
        if (self.csv is None) == (self.synthetic is None):
            raise ValueError("give exactly one data source: csv (a file) or synthetic "
                             "(an expression)")
        targets = self.targets
        if not targets:
            raise ValueError("target: name at least one column")
        dup = _repeated(targets)
        if dup:
            raise ValueError(f"target: {', '.join(dup)} is named twice")
        if self.inputs is not None:
            if not self.inputs:
                raise ValueError("inputs: name at least one column (or leave inputs out: "
                                 "every column but the targets)")
            both = [c for c in self.inputs if c in targets]
            if both:
                raise ValueError(f"inputs: {', '.join(both)} is also a target; a column is "
                                 "either an input or a target")
            dup = _repeated(self.inputs)
            if dup:
                raise ValueError(f"inputs: {', '.join(dup)} is named twice")
        self._check_column_lists(targets)
        return self

    def _check_column_lists(self, targets: list[str]) -> None:
        for key, names in (("exclude", self.exclude), ("categorical", self.categorical)):
            if names and self.synthetic is not None:
                raise ValueError(f"{key}: is for the columns of a csv, not synthetic data")
            both = [c for c in names if c in targets]
            if both:
                raise ValueError(f"{key}: {', '.join(both)} is the target")
        both = [c for c in self.categorical if c in self.exclude]
        if both:
            raise ValueError(f"categorical: {', '.join(both)} is also excluded")
        if self.exclude and self.inputs is not None:
            raise ValueError("exclude: leaves columns out of the default inputs; with inputs "
                             "listed, leave the column out of inputs instead")

    @property
    def targets(self) -> list[str]:
        return [self.target] if isinstance(self.target, str) else list(self.target)


# -- size limits: every one checked before anything is allocated ------------------------

MAX_PARAMETERS = 10_000_000  # weights and biases of a network (80 MB of float64, ~6x that to train)
MAX_EPOCHS = 1_000_000  # the loss of every epoch is kept (for the summary and --plot)
MEMORY_SHARE = 0.8  # of the memory this process may use (address-space limit, else the RAM)


def parameter_count(inputs: int, sizes: list[int], outputs: int) -> int:
    """Weights and biases of a network with these layer widths: sum of (fan_in + 1) * fan_out."""
    widths = [inputs, *sizes, outputs]
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def training_bytes(inputs: int, sizes: list[int], outputs: int, rows: int,
                   batch_size: int | None, validation_split: float) -> int:
    """An estimate (from above) of the memory training takes, in bytes, from the widths and rows.

    The parameters six times (weights, gradients, the best epoch's copy, up to two
    moments of the optimizer, one spare); the data four times (raw, standardised, the
    split's copies); every layer's output for the rows of one forward pass (a batch,
    or the validation rows) three times (outputs, caches, gradients); two layers'
    outputs for all rows (the summary's predictions). All float64.
    """
    widths = [inputs, *sizes, outputs]
    val = math.ceil(rows * validation_split)
    train = max(rows - val, 1)
    batch = train if batch_size is None else min(batch_size, train)
    held = max(batch, val)
    numbers = (6 * parameter_count(inputs, sizes, outputs) + 4 * rows * (inputs + outputs)
               + 3 * held * sum(widths) + 2 * rows * max(widths))
    return 8 * numbers


def memory_limit() -> int | None:
    """The bytes this process may still use: its address-space limit (``ulimit -v``) less
    what it maps now, else the machine's RAM; None when neither is known."""
    limits = []
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            used = 0
            try:
                with open("/proc/self/statm") as fh:
                    import os

                    used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):
                pass
            limits.append(max(soft - used, 0))
    except (ImportError, OSError, ValueError):
        pass
    try:
        import os

        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        pass
    return min(limits) if limits else None


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"


def check_size(config: "Config", inputs: int, outputs: int, rows: int) -> None:
    """Before the network is made: its parameters within :data:`MAX_PARAMETERS` and the
    training's estimated memory (:func:`training_bytes`) within :data:`MEMORY_SHARE` of
    :func:`memory_limit`. An :class:`InputError` (exit 2) says which and what to change."""
    sizes = config.model.sizes
    widths = "-".join(map(str, [inputs, *sizes, outputs]))
    params = parameter_count(inputs, sizes, outputs)
    if params > MAX_PARAMETERS:
        raise InputError(f"model.hidden: the network {widths} (inputs, hidden layers, outputs) has "
                         f"{params:,} weights and biases; the limit is {MAX_PARAMETERS:,}: use "
                         "narrower or fewer hidden layers")
    need = training_bytes(inputs, sizes, outputs, rows, config.training.batch_size,
                          config.data.validation_split)
    limit = memory_limit()
    if limit is not None and need > MEMORY_SHARE * limit:
        raise InputError(f"training the network {widths} on {rows:,} rows needs about {_gb(need)} "
                         f"of memory (estimated before allocating), more than the "
                         f"{_gb(MEMORY_SHARE * limit)} this process can use: use fewer rows or inputs, "
                         "narrower model.hidden or a smaller training.batch_size")


class ModelConfig(_Strict):
    # one hidden layer of that many units, or a list: [64, 32] is two layers
    hidden: Union[int, list[int]] = 64
    activation: Literal["sigmoid", "tanh", "relu"] = "tanh"

    @field_validator("hidden")
    @classmethod
    def _sizes(cls, hidden: Union[int, list[int]]) -> Union[int, list[int]]:
        sizes = [hidden] if isinstance(hidden, int) else hidden
        if not sizes:
            raise ValueError("give at least one hidden layer, e.g. 64 or [64, 32]")
        if len(sizes) > 100:
            raise ValueError(f"{len(sizes)} hidden layers: at most 100")
        for k in sizes:
            if not 1 <= k <= 100_000:
                raise ValueError(f"a hidden layer has 1 to 100000 units, got {k}")
        least = parameter_count(1, sizes, 1)  # one input and one output: the fewest there are
        if least > MAX_PARAMETERS:
            raise ValueError(f"{hidden} makes a network of at least {least:,} weights and "
                             f"biases; the limit is {MAX_PARAMETERS:,}: use narrower or fewer "
                             "hidden layers")
        return hidden

    @property
    def sizes(self) -> list[int]:
        return [self.hidden] if isinstance(self.hidden, int) else list(self.hidden)


class EarlyStopping(_Strict):
    patience: int = Field(20, ge=1)
    min_delta: float = Field(0.0, ge=0, allow_inf_nan=False)


class TrainingConfig(_Strict):
    learning_rate: float = Field(0.05, gt=0, allow_inf_nan=False)
    epochs: int = Field(200, ge=1, le=MAX_EPOCHS)
    batch_size: Optional[int] = Field(32, ge=1)  # null: full batch
    optimizer: Literal["sgd", "momentum", "adam"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    seed: int = Field(0, ge=0)
    early_stopping: Optional[EarlyStopping] = None


class OutputConfig(_Strict):
    model: str = "runs/model.npz"


class Config(_Strict):
    # regression: the targets are numbers; classification: the target column holds labels
    task: Literal["regression", "classification"] = "regression"
    data: DataConfig
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _early_stopping_needs_validation(self) -> "Config":
        if self.training.early_stopping is not None and self.data.validation_split == 0:
            raise ValueError("training.early_stopping watches the validation loss: set "
                             "data.validation_split above 0, or remove early_stopping")
        if self.task == "classification":
            if len(self.data.targets) != 1:
                raise ValueError("data.target: a classifier predicts one column of labels; "
                                 "name one column")
            if self.data.synthetic is not None:
                raise ValueError("task: synthetic data is a regression (the expression's value); "
                                 "classification needs a csv with a column of labels")
        return self


# -- errors that name the key path ----------------------------------------

def _fields_at(loc: tuple[Any, ...]) -> list[str] | None:
    """The keys allowed in the mapping at ``loc`` (for 'unknown key' messages)."""
    model: Any = Config
    for part in loc:
        if not isinstance(part, str):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)
                 and issubclass(a, BaseModel)]
        if not inner:
            return None
        model = inner[0]
    return list(model.model_fields)


_UNION_TAGS = {"str", "int", "float", "bool", "list[str]", "list[int]", "tuple[float, float]"}


def _key_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # A union's members appear in the location as type names: not keys.
    return tuple(p for p in loc if not (isinstance(p, str) and p in _UNION_TAGS))


def _message(err: dict[str, Any]) -> str:
    loc = _key_path(tuple(err["loc"]))
    path = ".".join(str(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return f"{path}: unknown key{hint}"
    if kind == "missing":
        return f"{path}: missing (required)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return f"{path}: {msg}" if path else msg
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    return f"{path}: {msg[:1].lower() + msg[1:]}{shown}"


def first_problem(exc: ValidationError) -> str:
    """The first problem of a failed validation, as ``key: what is wrong`` (the estimators' too)."""
    return _message(exc.errors()[0])


def validate(raw: Any, source: str = "config") -> Config:
    """A Config from a parsed YAML document, or an InputError naming the key path."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"{source}: the top level must be a mapping of keys (task:, data:, "
                         f"model:, training:, output:), not a {type(raw).__name__}")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        # Union members each report on their own; the first message per path is enough.
        seen: dict[str, str] = {}
        for e in errors:
            seen.setdefault(".".join(map(str, _key_path(tuple(e["loc"])))), _message(e))
        first = next(iter(seen.values()))
        more = f" (and {len(seen) - 1} more problem{'s' if len(seen) > 2 else ''})" if len(seen) > 1 else ""
        raise InputError(f"{source}: {first}{more}") from None


MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; more is not a config
MAX_CONFIG_DEPTH = 64  # mappings and lists inside each other (a config has 3 levels)
MAX_CONFIG_NODES = 1_000_000  # values once aliases (*name) are expanded
MAX_CONFIG_NUMBER = 1_000  # characters of an integer (YAML 1.1: decimal, 0x, 0o, 0b, 1:20)
_INTEGER = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_:]*)")


def _bounded(text: str, p: Path) -> None:
    """Refuse a document nested too deeply or too large once its aliases are expanded.

    yaml.safe_load composes nodes recursively (100,000 nested brackets are a
    RecursionError), and ``&a [*b, *b]`` repeated doubles the values pydantic
    would walk. The parser's events are produced without recursion: counted here
    first, with the line of the first node past a limit.
    """
    import yaml

    depth = 0
    sizes: list[int] = [0]  # values in each open collection (and the document)
    anchors: dict[str, int] = {}
    opened: list[str | None] = []
    # the same parser as safe_load's (libyaml's accepts a slightly different language)
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                raise InputError(f"{p} line {mark.line + 1}: nested more than {MAX_CONFIG_DEPTH} "
                                 "levels deep (a config needs 5)")
            sizes.append(1)
            opened.append(event.anchor)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            size = sizes.pop()
            anchor = opened.pop()
            if anchor is not None:
                anchors[anchor] = size
            sizes[-1] += size
        elif isinstance(event, yaml.ScalarEvent):
            sizes[-1] += 1
            if (event.style is None and len(event.value) > MAX_CONFIG_NUMBER
                    and _INTEGER.fullmatch(event.value)):
                # int() of more than 4,300 digits raises ValueError inside safe_load
                raise InputError(f"{p} line {mark.line + 1}: a number of more than "
                                 f"{MAX_CONFIG_NUMBER:,} characters")
            if event.anchor is not None:
                anchors[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            sizes[-1] += anchors.get(event.anchor, 1)
        else:
            continue
        if sum(sizes) > MAX_CONFIG_NODES:
            raise InputError(f"{p} line {mark.line + 1}: more than {MAX_CONFIG_NODES:,} values "
                             "(counting each alias as the values it repeats)")


def read_yaml(path: str | Path) -> Any:
    import yaml

    p = Path(path)
    try:
        with p.open("rb") as fh:
            # at most one byte past the cap: /dev/zero or a huge file is refused, not read whole
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{p}: no such config file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder, not a config file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read it ({exc.strerror})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(f"{p}: larger than {MAX_CONFIG_BYTES:,} bytes, the limit for a config "
                         "file (the data goes in data.csv)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{p}: not a text (UTF-8) file") from None
    try:
        _bounded(text, p)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{p}{where}: not valid YAML: {problem}") from None
    except RecursionError:  # past the checks above, should the loader still recurse too deep
        raise InputError(f"{p}: nested too deeply to read") from None
    except ValueError as exc:  # a value the constructors refuse past the checks above
        raise InputError(f"{p}: a value cannot be read ({exc})") from None


def set_key(raw: dict[str, Any], path: str, value: Any) -> None:
    """A command-line override, applied before validation so errors name the key."""
    node = raw
    *parents, last = path.split(".")
    for k in parents:
        child = node.get(k)
        if not isinstance(child, dict):
            child = {}
            node[k] = child
        node = child
    node[last] = value


def load(path: str | Path, overrides: dict[str, Any] | None = None,
         options: dict[str, str] | None = None) -> Config:
    """Read, override (``{"training.epochs": 10}``) and validate a config file.

    ``options`` names the command-line option of each override key
    (``{"training.epochs": "--epochs"}``): an invalid overridden value is then
    reported against the option the user typed, not against the file's key.
    """
    raw = read_yaml(path)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if isinstance(raw, dict):
        for key, value in given.items():
            set_key(raw, key, value)
    try:
        return validate(raw, str(path))
    except InputError as exc:
        for key, option in (options or {}).items():
            lead = f"{path}: {key}: "
            if key in given and str(exc).startswith(lead):
                raise InputError(f"{option}: {str(exc)[len(lead):]}") from None
        raise
