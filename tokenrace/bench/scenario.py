"""Scenario files (``tokenrace bench SCENARIO.yaml``) -> a validated :class:`Scenario`.

Every problem is a :class:`~tokenrace.errors.ConfigError` naming the file, the line and the field
(``load.concurrency[1]``); a problem in a value given with ``--set`` names that option instead.
Inline ``providers:`` are validated by the config loader's own rules, so they read exactly like
``tokenrace.yaml``.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ..config.models import ProviderConfig, Timeouts
from ..config.yamlmarks import MarkedDict, MarkedList, line_of, load_yaml
from ..errors import ConfigError
from .prompts import PromptSpec, PromptsMixin, plain as _plain, type_name as _type_name

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
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


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
    as_run: dict[str, Any] = field(default_factory=dict)   # for scenario.yaml: overrides applied, keys masked
    overrides: tuple[str, ...] = ()

    def requests_per_step(self, providers: int = 1) -> int:
        return len(self.prompts) * self.repetitions * providers


# -- helpers ----------------------------------------------------------------------------------

def _suggest(word: Any, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _parse_value(text: str) -> Any:
    try:
        return _marked(yaml.safe_load(text)) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _marked(v: Any) -> Any:
    """Plain containers as the line-aware ones the parser expects (a --set value has no lines)."""
    if isinstance(v, dict):
        return MarkedDict({k: _marked(x) for k, x in v.items()})
    if isinstance(v, list):
        out = MarkedList(_marked(x) for x in v)
        out.lines = [1] * len(out)
        return out
    return v


def apply_overrides(top: MarkedDict, sets: Sequence[str]) -> list[str]:
    """Apply ``--set a.b=value`` (YAML values: ``--set load.concurrency=[1,8]``); the paths set."""
    paths = []
    for item in sets:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set repetitions=5")
        parts = key.replace("[", ".").replace("]", "").split(".")
        if parts[0] not in FIELDS and not parts[0].startswith("x-"):
            raise ConfigError(f"--set {key}: unknown field '{parts[0]}'{_suggest(parts[0], FIELDS)}")
        node: Any = top
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: '{part}' is not an index of the list at "
                                      f"'{'.'.join(parts[:i])}' (0..{len(node) - 1})")
                part = int(part)
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

class _Parser(PromptsMixin):
    def __init__(self, source: str, base_dir: Path, overrides: Sequence[str], env: Mapping[str, str]) -> None:
        self.source, self.base_dir, self.overrides, self.env = source, base_dir, list(overrides), env

    def fail(self, message: str, line: int | None, path: str | None) -> ConfigError:
        norm = (path or "").replace("[", ".").replace("]", "")
        for p in self.overrides:
            if norm == p or norm.startswith(p + ".") or p.startswith(norm + ".") and norm:
                return ConfigError(message, file=f"--set {p}", field=path or None)
        return ConfigError(message, file=self.source, line=line, field=path or None)

    def mapping(self, v: Any, line: int, path: str) -> MarkedDict:
        if not isinstance(v, dict):
            raise self.fail(f"must be a mapping, got {_type_name(v)}", line, path)
        for key, dup_line, first in getattr(v, "dups", ()):
            raise self.fail(f"duplicate key '{key}' (first at line {first})", dup_line, f"{path}.{key}".strip("."))
        return v

    def keys(self, m: MarkedDict, allowed: Sequence[str], path: str) -> None:
        for k in m:
            if k not in allowed and not (not path and isinstance(k, str) and k.startswith("x-")):
                raise self.fail(f"unknown field '{k}'{_suggest(k, allowed)}", m.line_of(k),
                                f"{path}.{k}" if path else str(k))

    def number(self, v: Any, line: int, path: str, *, integer: bool = False, lo: float = 0,
               lo_open: bool = False, hi: float = math.inf) -> float:
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not math.isfinite(v) or v < lo or (lo_open and v == lo) or v > hi:
            what = "an integer" if integer else "a number"
            bound = f"> {lo:g}" if lo_open else f">= {lo:g}"
            if hi < math.inf:
                bound += f" and <= {hi:g}"
            raise self.fail(f"must be {what} {bound}, got {v!r}", line, path)
        return v

    def text(self, m: MarkedDict, key: str, path: str, default: Any = None) -> Any:
        if key not in m or m[key] is None:
            return default
        if not isinstance(m[key], str) or not m[key].strip():
            raise self.fail(f"must be a non-empty string, got {m[key]!r}", m.line_of(key), f"{path}{key}")
        return m[key]

    # -- sections --

    def scenario(self, top: Any, root_line: int) -> Scenario:
        if top is None:
            raise self.fail("the file is empty; expected a mapping with 'prompts'", 1, None)
        top = self.mapping(top, root_line, "")
        self.keys(top, FIELDS, "")
        stem = Path(self.source).stem if not self.source.startswith("<") else "bench"
        name = self.text(top, "name", "", stem)
        if not _NAME_RE.fullmatch(name):
            raise self.fail(f"{name!r} may only contain letters, digits, '.', '_' and '-' (it names the output "
                            f"folder)", top.line_of("name"), "name")
        sc = Scenario(name=name, source=self.source, base_dir=self.base_dir, prompts=self.prompts(top),
                      steps=self.load(top))
        self.sources(top, sc)
        sc.system = self.text(top, "system", "")
        if top.get("params") is not None:
            p = self.mapping(top["params"], top.line_of("params"), "params")
            sc.params = _plain(p)
        for key, lo, default in (("warmup", 0, 0), ("repetitions", 1, 1), ("seed", 0, 0)):
            if top.get(key) is not None:
                setattr(sc, key, self.number(top[key], top.line_of(key), key, integer=True, lo=lo))
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
            value = self.text(top, "config", "")
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
                raise self.fail(f"must be a provider name, got {_type_name(item)}",
                                line_of(raw, i, top.line_of("providers")), f"providers[{i}]")
            names.append(item)
        sc.provider_names = tuple(dict.fromkeys(names))

    def inline(self, top: MarkedDict, raw: list) -> tuple[tuple[ProviderConfig, ...], dict[str, Any]]:
        from ..config.loader import ConfigParser   # the config file's own rules and messages

        cp = ConfigParser(self.source, self.env)
        try:
            defaults = cp.defaults(top)
        except ConfigError as e:
            raise self.fail(e.detail, e.line, e.field) from None
        out, seen = [], {}
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise self.fail("mix of names and definitions: give all providers as definitions here",
                                line_of(raw, i, top.line_of("providers")), f"providers[{i}]")
            try:
                prov = cp.provider(item, i, line_of(raw, i, top.line_of("providers")), defaults)
            except ConfigError as e:
                raise self.fail(e.detail, e.line, e.field) from None
            if prov.name in seen:
                raise self.fail(f"duplicate provider name {prov.name!r} (first at line {seen[prov.name]})",
                                prov.line, f"providers[{i}].name")
            seen[prov.name] = prov.line
            out.append(prov)
        return tuple(out), defaults

    def simulator(self, v: Any, line: int) -> tuple[SimProvider, ...]:
        from ..simulator.profiles import Fault, Profile

        if v is True:
            return ()
        if not isinstance(v, list) or not v:
            raise self.fail("must be true (the built-in profiles) or a list of profiles "
                            "({name, ttft_ms, itl_ms, ...})", line, "simulator")
        out, seen = [], set()
        for i, item in enumerate(v):
            path = f"simulator[{i}]"
            m = self.mapping(item, line_of(v, i, line), path)
            self.keys(m, PROFILE_FIELDS, path)
            kw: dict[str, Any] = {}
            for key in ("ttft_ms", "itl_ms", "jitter_ms"):
                if key in m:
                    kw[key] = float(self.number(m[key], m.line_of(key), f"{path}.{key}"))
            for key, lo in (("tokens_per_chunk", 1), ("answer_tokens", 0), ("reasoning_tokens", 0), ("seed", 0)):
                if key in m:
                    kw[key] = self.number(m[key], m.line_of(key), f"{path}.{key}", integer=True, lo=lo)
            if "text" in m:
                kw["text"] = self.text(m, "text", f"{path}.")
            if "usage" in m:
                if not isinstance(m["usage"], bool):
                    raise self.fail("must be true or false", m.line_of("usage"), f"{path}.usage")
                kw["usage"] = m["usage"]
            if m.get("fault") is not None:
                f = self.mapping(m["fault"], m.line_of("fault"), f"{path}.fault")
                self.keys(f, FAULT_FIELDS, f"{path}.fault")
                fkw = {k: f[k] for k in FAULT_FIELDS if k in f}
                try:
                    kw["fault"] = Fault(**fkw)
                except (ValueError, TypeError) as e:
                    raise self.fail(str(e), f.line, f"{path}.fault") from None
            name = self.text(m, "name", f"{path}.")
            if name is None:
                raise self.fail("missing required field 'name'", m.line, f"{path}.name")
            if name in seen:
                raise self.fail(f"duplicate profile name {name!r}", m.line_of("name"), f"{path}.name")
            seen.add(name)
            try:
                profile = Profile(name=name, **kw)
            except (ValueError, TypeError) as e:
                raise self.fail(str(e), m.line, path) from None
            kind = self.text(m, "kind", f"{path}.", "openai")
            if kind not in ("openai", "anthropic", "gemini", "zhipu", "ollama"):
                raise self.fail(f"{kind!r} is not one of openai, anthropic, gemini, zhipu, ollama",
                                m.line_of("kind"), f"{path}.kind")
            retries = self.number(m["retries"], m.line_of("retries"), f"{path}.retries", integer=True) \
                if "retries" in m else 0
            out.append(SimProvider(profile, kind, self.text(m, "model", f"{path}.", "sim-model"), int(retries)))
        return tuple(out)

    def load(self, top: MarkedDict) -> tuple[LoadStep, ...]:
        if top.get("load") is None:
            return (LoadStep(0, "concurrency", 1),)
        m = self.mapping(top["load"], top.line_of("load"), "load")
        self.keys(m, LOAD_KINDS, "load")
        kinds = [k for k in LOAD_KINDS if k in m]
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
                x = self.number(x, xl, where, integer=True, lo=1, hi=MAX_CONCURRENCY)
            else:
                x = float(self.number(x, xl, where, lo=0, lo_open=True, hi=100_000))
            steps.append(LoadStep(i, kind, x))
        return tuple(steps)

    def slo(self, top: MarkedDict) -> dict[str, float]:
        if top.get("slo") is None:
            return {}
        m = self.mapping(top["slo"], top.line_of("slo"), "slo")
        self.keys(m, SLO_MAX + SLO_MIN, "slo")
        return {k: float(self.number(v, m.line_of(k), f"slo.{k}", lo=0, lo_open=True)) for k, v in m.items()}


# -- public API -------------------------------------------------------------------------------

def _mask(doc: dict) -> dict:
    """The scenario as run: prompts resolved, secrets replaced by ***."""
    out = _plain(doc)
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
    try:
        sc = p.scenario(top, root_line)
    except RecursionError:
        raise ConfigError("nested too deeply", file=source, line=1) from None
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
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text (byte {e.start})", file=str(path)) from None
    except OSError as e:
        why = " (it is a directory)" if path.is_dir() else ""
        raise ConfigError(f"cannot read the scenario: {e.strerror or e}{why}", file=str(path)) from None
    return parse_scenario(text, str(path), base_dir=path.resolve().parent, overrides=overrides, env=env)


def sim_provider_configs(sc: Scenario, sim: Any) -> tuple[ProviderConfig, ...]:
    """ProviderConfigs that reach the scenario's own simulator profiles on ``sim``."""
    return tuple(ProviderConfig(name=s.profile.name, kind=s.kind, model=s.model,
                                base_url=sim.base_url(s.profile.name, s.kind),
                                timeout=Timeouts(connect=5, read=30, total=120), retries=s.retries)
                 for s in sc.sim_providers)
