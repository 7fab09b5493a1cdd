"""Scenario files (``tokenrace bench SCENARIO.yaml``) -> a validated :class:`Scenario`.

Every problem is a :class:`~tokenrace.errors.ConfigError` naming the file, the line and the field
(``load.concurrency[1]``); a problem in a value given with ``--set`` names that option instead.
Inline ``providers:`` are validated by the config loader's own rules, so they read exactly like
``tokenrace.yaml``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config.loader import ConfigParser
from ..config.models import ProviderConfig, Timeouts
from ..config.validate import nesting_guard, read_source, suggest, type_name
from ..config.yamlmarks import MarkedDict, line_of, load_yaml, marked, plain
from ..errors import ConfigError
from .prompts import PromptSpec, PromptsParser

FIELDS = ("name", "config", "simulator", "providers", "defaults", "prompts", "system", "params", "warmup",
          "repetitions", "load", "slo", "seed")
LOAD_KINDS = ("concurrency", "rate")
# goodput: a request counts when every figure named here meets its bound
SLO_MAX = ("ttft_ms", "ttft_any_ms", "ttfb_ms", "e2e_ms", "tpot_ms", "itl_p99_ms")
SLO_MIN = ("tokens_per_s",)
PROFILE_FIELDS = ("name", "kind", "model", "retries", "ttft_ms", "itl_ms", "jitter_ms", "tokens_per_chunk",
                  "answer_tokens", "reasoning_tokens", "seed", "text", "usage", "fault")
FAULT_FIELDS = ("kind", "after_tokens", "rate", "retry_after_s", "stall_s", "drip_ms")
MAX_CONCURRENCY = 4096
MAX_WORKERS = 64
SIM_KINDS = ("openai", "anthropic", "gemini", "zhipu", "ollama")


@dataclass(frozen=True)
class LoadStep:
    index: int
    kind: str                      # concurrency | rate
    value: float                   # in-flight requests per provider, or requests/s per provider

    @property
    def label(self) -> str:
        return f"concurrency {self.value:g}" if self.kind == "concurrency" else f"rate {self.value:g}/s"

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.index, "kind": self.kind, "value": self.value}


@dataclass(frozen=True)
class SimProvider:
    """A provider served by the built-in simulator with a profile defined in the scenario."""

    profile: Any                   # tokenrace.simulator.Profile
    kind: str = "openai"
    model: str = "sim-model"
    retries: int = 0


@dataclass
class Scenario:
    name: str
    source: str
    base_dir: Path
    prompts: tuple[PromptSpec, ...]
    steps: tuple[LoadStep, ...]
    config: str | None = None                          # a config file (absolute path)
    simulator: bool = False                            # the built-in simulator serves the providers
    sim_providers: tuple[SimProvider, ...] = ()        # ... with these profiles (none: the default six)
    inline_providers: tuple[ProviderConfig, ...] = ()
    inline_defaults: dict[str, Any] = field(default_factory=dict)
    provider_names: tuple[str, ...] = ()               # a subset; empty: all
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    warmup: int = 0
    repetitions: int = 1
    slo: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    workers: int | str = 1                             # load.workers: processes that share the plan, or "auto"
    as_run: dict[str, Any] = field(default_factory=dict)   # for scenario.yaml: overrides applied, keys masked
    overrides: tuple[str, ...] = ()

    def requests_per_step(self, providers: int = 1) -> int:
        return len(self.prompts) * self.repetitions * providers


# -- --set ------------------------------------------------------------------------------------

def _parse_value(text: str) -> Any:
    """A --set value as YAML (as the line-aware containers the parser expects), else the text itself."""
    try:
        return marked(yaml.safe_load(text)) if text.strip() else ""
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):   # e.g. 2024-13-45 is no date
        return text


def apply_overrides(top: dict[str, Any], sets: Sequence[str]) -> list[str]:
    """Apply ``--set a.b=value`` (YAML values: ``--set load.concurrency=[1,8]``); the paths set."""
    paths = []
    for item in sets:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set repetitions=5")
        parts = key.replace("[", ".").replace("]", "").split(".")
        if parts[0] not in FIELDS and not parts[0].startswith("x-"):
            raise ConfigError(f"--set {key}: unknown field '{parts[0]}'{suggest(parts[0], FIELDS)}")
        node: Any = top
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            part: str | int = name
            if isinstance(node, list):
                if not name.isdigit() or int(name) >= len(node):
                    raise ConfigError(f"--set {key}: '{name}' is not an index of the list at "
                                      f"'{'.'.join(parts[:i])}' (0..{len(node) - 1})")
                part = int(name)
            elif not isinstance(node, dict):
                raise ConfigError(f"--set {key}: '{'.'.join(parts[:i])}' is not a mapping")
            if last:
                value = _parse_value(raw)
                if parts[0] == "load" and len(parts) == 2 and part in LOAD_KINDS:
                    for other in LOAD_KINDS:       # load.rate=... replaces load.concurrency, and back
                        if other != part and isinstance(node, dict):
                            node.pop(other, None)
                node[part] = value
            else:
                if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
                    node[part] = MarkedDict()
                node = node[part]
        paths.append(".".join(parts))
    return paths


# -- the parser -------------------------------------------------------------------------------

class _Parser(PromptsParser):
    def __init__(self, source: str, base_dir: Path, overrides: Sequence[str], env: Mapping[str, str]) -> None:
        super().__init__(source, env, overrides)
        self.base_dir = base_dir

    # -- sections --

    def scenario(self, top: Any, root_line: int) -> Scenario:
        if top is None:
            raise self.fail("the file is empty; expected a mapping with 'prompts'", 1, None)
        top = self.mapping(top, root_line, "")
        self.check_keys(top, FIELDS, "")
        stem = Path(self.source).stem if not self.source.startswith("<") else "bench"
        name = self.safe_name(self.nonempty_text(top, "name", "", stem), top.line_of("name"), "name",
                              " (it names the output folder)")
        sc = Scenario(name=name, source=self.source, base_dir=self.base_dir, prompts=self.prompts(top),
                      steps=self.load(top), workers=self.workers(top))
        self.sources(top, sc)
        sc.system = self.nonempty_text(top, "system", "")
        if top.get("params") is not None:
            sc.params = plain(self.mapping(top["params"], top.line_of("params"), "params"))
        for key, lo, default in (("warmup", 0, 0), ("repetitions", 1, 1), ("seed", 0, 0)):
            if top.get(key) is not None:
                setattr(sc, key, self.integer(top[key], top.line_of(key), key, lo=lo))
            else:
                setattr(sc, key, default)
        sc.slo = self.slo(top)
        return sc

    def sources(self, top: MarkedDict, sc: Scenario) -> None:
        given = [k for k in ("config", "simulator") if top.get(k) not in (None, False)]
        raw = top.get("providers")
        inline = isinstance(raw, list) and any(isinstance(x, dict) for x in raw)
        if inline:
            given.append("providers")
        if len(given) > 1:
            raise self.fail(f"give only one of config, simulator and inline providers (found {', '.join(given)})",
                            top.line_of(given[1]), given[1])
        if "defaults" in top and not inline:
            raise self.fail("'defaults' only applies to inline providers; put it in the config file",
                            top.line_of("defaults"), "defaults")
        if top.get("config") is not None:
            value = self.nonempty_text(top, "config", "")
            path = Path(os.path.expanduser(value))
            path = path if path.is_absolute() else self.base_dir / path
            if not path.is_file():
                raise self.fail(f"config file not found: {path}", top.line_of("config"), "config")
            sc.config = str(path)
        if top.get("simulator") not in (None, False):
            sc.simulator = True
            sc.sim_providers = self.simulator(top["simulator"], top.line_of("simulator"))
        if raw is None:
            return
        if not isinstance(raw, list) or not raw:
            raise self.fail(f"must be a non-empty list of provider names or provider definitions, got {raw!r}",
                            top.line_of("providers"), "providers")
        if inline:
            sc.inline_providers, sc.inline_defaults = self.inline(top, raw)
            return
        names = []
        for i, item in enumerate(raw):
            if not isinstance(item, str) or not item:
                raise self.fail(f"must be a provider name, got {type_name(item)}",
                                line_of(raw, i, top.line_of("providers")), f"providers[{i}]")
            names.append(item)
        sc.provider_names = tuple(dict.fromkeys(names))

    def inline(self, top: MarkedDict, raw: list[Any]) -> tuple[tuple[ProviderConfig, ...], dict[str, Any]]:
        """Providers written in the scenario, by the config file's own rules and messages."""
        pline = top.line_of("providers")
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise self.fail("mix of names and definitions: give all providers as definitions here",
                                line_of(raw, i, pline), f"providers[{i}]")
        cp = ConfigParser(self.source, self.env, self.overrides)
        defaults = cp.defaults(top)
        return cp.providers(raw, pline, defaults), defaults

    def simulator(self, v: Any, line: int) -> tuple[SimProvider, ...]:
        from ..simulator.profiles import Fault, Profile

        if v is True:
            return ()
        if not isinstance(v, list) or not v:
            raise self.fail("must be true (the built-in profiles) or a list of profiles "
                            "({name, ttft_ms, itl_ms, ...})", line, "simulator")
        out: list[SimProvider] = []
        seen: set[str] = set()
        for i, item in enumerate(v):
            path = f"simulator[{i}]"
            m = self.mapping(item, line_of(v, i, line), path)
            self.check_keys(m, PROFILE_FIELDS, path)
            kw: dict[str, Any] = {}
            for key in ("ttft_ms", "itl_ms", "jitter_ms"):
                if key in m:
                    kw[key] = self.number(m[key], m.line_of(key), f"{path}.{key}")
            for key, lo in (("tokens_per_chunk", 1), ("answer_tokens", 0), ("reasoning_tokens", 0), ("seed", 0)):
                if key in m:
                    kw[key] = self.integer(m[key], m.line_of(key), f"{path}.{key}", lo=lo)
            if "text" in m:
                kw["text"] = self.nonempty_text(m, "text", path)
            if "usage" in m:
                kw["usage"] = self.flag(m, "usage", path)
            if m.get("fault") is not None:
                f = self.mapping(m["fault"], m.line_of("fault"), f"{path}.fault")
                self.check_keys(f, FAULT_FIELDS, f"{path}.fault")
                fkw = {k: f[k] for k in FAULT_FIELDS if k in f}
                try:
                    kw["fault"] = Fault(**fkw)
                except (ValueError, TypeError) as e:
                    raise self.fail(str(e), f.line, f"{path}.fault") from None
            name = self.nonempty_text(m, "name", path)
            if name is None:
                raise self.fail("missing required field 'name'", m.line, f"{path}.name")
            if name in seen:
                raise self.fail(f"duplicate profile name {name!r}", m.line_of("name"), f"{path}.name")
            seen.add(name)
            try:
                profile = Profile(name=name, **kw)
            except (ValueError, TypeError) as e:
                raise self.fail(str(e), m.line, path) from None
            kind = self.nonempty_text(m, "kind", path, "openai")
            if kind not in SIM_KINDS:
                raise self.fail(f"{kind!r} is not one of {', '.join(SIM_KINDS)}", m.line_of("kind"), f"{path}.kind")
            retries = self.integer(m["retries"], m.line_of("retries"), f"{path}.retries") if "retries" in m else 0
            out.append(SimProvider(profile, kind, self.nonempty_text(m, "model", path, "sim-model"), retries))
        return tuple(out)

    def load(self, top: MarkedDict) -> tuple[LoadStep, ...]:
        if top.get("load") is None:
            return (LoadStep(0, "concurrency", 1),)
        m = self.mapping(top["load"], top.line_of("load"), "load")
        self.check_keys(m, LOAD_KINDS + ("workers",), "load")
        kinds = [k for k in LOAD_KINDS if k in m]
        if not kinds and "workers" in m:
            return (LoadStep(0, "concurrency", 1),)
        if len(kinds) != 1:
            raise self.fail("give exactly one of concurrency (closed loop) or rate (Poisson arrivals, req/s)",
                            m.line, "load")
        kind = kinds[0]
        v, line = m[kind], m.line_of(kind)
        values = list(v) if isinstance(v, list) else [v]
        if not values:
            raise self.fail("is an empty list", line, f"load.{kind}")
        steps = []
        for i, x in enumerate(values):
            where = f"load.{kind}[{i}]" if isinstance(v, list) else f"load.{kind}"
            xl = line_of(v, i, line) if isinstance(v, list) else line
            if kind == "concurrency":
                value: float = self.integer(x, xl, where, lo=1, hi=MAX_CONCURRENCY)
            else:
                value = self.number(x, xl, where, lo=0, lo_open=True, hi=100_000)
            steps.append(LoadStep(i, kind, value))
        return tuple(steps)

    def workers(self, top: MarkedDict) -> int | str:
        m = top.get("load")
        if not isinstance(m, MarkedDict) or m.get("workers") is None:
            return 1
        v, line = m["workers"], m.line_of("workers")
        if v == "auto":
            return "auto"
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f"must be a number of worker processes (1..{MAX_WORKERS}) or auto, got {v!r}",
                            line, "load.workers")
        return self.integer(v, line, "load.workers", lo=1, hi=MAX_WORKERS)

    def slo(self, top: MarkedDict) -> dict[str, float]:
        if top.get("slo") is None:
            return {}
        m = self.mapping(top["slo"], top.line_of("slo"), "slo")
        self.check_keys(m, SLO_MAX + SLO_MIN, "slo")
        return {k: self.number(v, m.line_of(k), f"slo.{k}", lo=0, lo_open=True) for k, v in m.items()}


# -- public API -------------------------------------------------------------------------------

def _mask(doc: dict[str, Any]) -> dict[str, Any]:
    """The scenario as run: prompts resolved, secrets replaced by ***."""
    out: dict[str, Any] = plain(doc)
    for p in out.get("providers") or []:
        if isinstance(p, dict):
            if p.get("api_key"):
                p["api_key"] = "***"
            if isinstance(p.get("headers"), dict):
                p["headers"] = {k: "***" for k in p["headers"]}
    d = out.get("defaults")
    if isinstance(d, dict) and isinstance(d.get("headers"), dict):
        d["headers"] = {k: "***" for k in d["headers"]}
    return out


def parse_scenario(text: str, source: str = "<string>", *, base_dir: Path | None = None,
                   overrides: Sequence[str] = (), env: Mapping[str, str] | None = None) -> Scenario:
    """Validate scenario YAML text (``source`` names the file in errors; files resolve from ``base_dir``)."""
    top, root_line = load_yaml(text, source)
    paths: list[str] = []
    if overrides:
        if top is None:
            top = MarkedDict()
        if not isinstance(top, dict):
            raise ConfigError("the top level must be a mapping", file=source, line=root_line)
        paths = apply_overrides(top, overrides)
    p = _Parser(source, base_dir or Path.cwd(), paths, os.environ if env is None else env)
    with nesting_guard(source):
        sc = p.scenario(top, root_line)
    doc = _mask(top)
    doc["name"] = sc.name
    doc["prompts"] = [m[0]["content"] if len(m) == 1 and m[0]["role"] == "user" else {"messages": list(m)}
                      for m in (ps.messages for ps in sc.prompts)]
    if sc.config:
        doc["config"] = sc.config
    sc.as_run, sc.overrides = doc, tuple(overrides)
    return sc


def load_scenario(path: str | Path, overrides: Sequence[str] = (), *,
                  env: Mapping[str, str] | None = None) -> Scenario:
    path = Path(path)
    text = read_source(path, "cannot read the scenario")
    return parse_scenario(text, str(path), base_dir=path.resolve().parent, overrides=overrides, env=env)


def sim_provider_configs(sc: Scenario, sim: Any) -> tuple[ProviderConfig, ...]:
    """ProviderConfigs that reach the scenario's own simulator profiles on ``sim``."""
    return tuple(ProviderConfig(name=s.profile.name, kind=s.kind, model=s.model,
                                base_url=sim.base_url(s.profile.name, s.kind),
                                timeout=Timeouts(connect=5, read=30, total=120), retries=s.retries)
                 for s in sc.sim_providers)
