"""Find, read and validate ``tokenrace.yaml`` into :class:`~tokenrace.config.models.Config`.

Every problem is a :class:`ConfigError` naming the file, the line and the field path
(``providers[1].kind``). Provider indexes in paths count from 0. A ``${VAR}`` that is not
set makes only its provider unavailable; outside ``providers`` it is an error.
"""
from __future__ import annotations

import copy
import os
import re
import shlex
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from .models import (DEFAULT_BASE_URLS, KINDS, Config, Price, ProviderConfig, Secret, SSEEndpoint, Timeouts,
                     VertexTarget)
from .validate import UNSET, Validator, nesting_guard, read_source, type_name
from .yamlmarks import MarkedDict, expand_env, line_of, load_yaml

__all__ = ["CONFIG_ENV", "ConfigParser", "expand_env", "find_config_path", "load_config", "parse_config",
           "read_config", "starter_text", "write_starter"]
CONFIG_ENV = "TOKENRACE_CONFIG"
LOCAL_NAME = "tokenrace.yaml"
USER_PATH = (".config", "tokenrace", "config.yaml")

TOP_FIELDS = ("providers", "defaults")
DEFAULT_FIELDS = ("params", "headers", "timeout", "retries")
PROVIDER_FIELDS = ("name", "kind", "model", "base_url", "api_key", "api_key_command", "params", "headers",
                   "timeout", "retries", "price")
PRICE_FIELDS = ("input", "output", "cached_input")
KIND_FIELDS = {"zhipu": ("auth",), "azure": ("deployment", "api_version"), "gemini": ("vertex",),
               "bedrock": ("region",)}
VERTEX_FIELDS = ("project", "location")
SSE_FIELDS = ("path", "method", "body", "text_path", "mode", "done", "event", "error_path")
TIMEOUT_FIELDS = ("connect", "read", "total")
AUTHS: tuple[Literal["key", "jwt"], ...] = ("key", "jwt")
MODES: tuple[Literal["delta", "cumulative"], ...] = ("delta", "cumulative")
METHODS = ("GET", "POST", "PUT", "PATCH")

_HEADER_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ConfigParser(Validator):
    """The rules of ``tokenrace.yaml`` on the shared :class:`Validator`. ``defaults()`` and
    ``providers()`` also validate providers written inline in a bench scenario, so both files
    share one set of rules and messages."""

    # -- shared provider/defaults fields --

    def params(self, m: MarkedDict, path: str) -> dict[str, Any] | None:
        if "params" in m:
            self.mapping(m["params"], m.line_of("params"), f"{path}.params")
            return self.data(m["params"], m.line_of("params"), f"{path}.params")
        return None

    def headers(self, m: MarkedDict, path: str) -> dict[str, str] | None:
        if "headers" not in m:
            return None
        h = self.mapping(m["headers"], m.line_of("headers"), f"{path}.headers", "a mapping of strings")
        out: dict[str, str] = {}
        for key, value in h.items():
            line, where = h.line_of(key), f"{path}.headers.{key}"
            if not isinstance(key, str) or not _HEADER_RE.fullmatch(key):
                raise self.fail("is not a valid HTTP header name", line, where)
            if not isinstance(value, str):
                raise self.fail(f"header values must be strings, got {type_name(value)} (quote it)",
                                line, where)
            value = self.sub(value, line, where)[0]
            if "\r" in value or "\n" in value:
                raise self.fail("header values cannot contain line breaks", line, where)
            out[key] = value
        return out

    def timeout(self, m: MarkedDict, path: str) -> dict[str, float] | None:
        if "timeout" not in m:
            return None
        where = f"{path}.timeout"
        t = self.mapping(m["timeout"], m.line_of("timeout"), where,
                         "a mapping like {connect: 10, read: 60, total: 600}")
        self.check_keys(t, TIMEOUT_FIELDS, where)
        return {key: self.number(value, t.line_of(key), f"{where}.{key}", lo=0, lo_open=True,
                                 expected="a positive number of seconds") for key, value in t.items()}

    def retries(self, m: MarkedDict, path: str) -> int | None:
        if "retries" not in m:
            return None
        return self.integer(m["retries"], m.line_of("retries"), f"{path}.retries", lo=0)

    # -- sections --

    def defaults(self, top: MarkedDict) -> dict[str, Any]:
        if "defaults" not in top or top["defaults"] is None:
            return {}
        d = self.mapping(top["defaults"], top.line_of("defaults"), "defaults")
        self.check_keys(d, DEFAULT_FIELDS, "defaults", elsewhere={
            k: f"'{k}' cannot be a default; set it on each provider"
            for k in PROVIDER_FIELDS + SSE_FIELDS + sum(KIND_FIELDS.values(), ())})
        found = {"params": self.params(d, "defaults"), "headers": self.headers(d, "defaults"),
                 "timeout": self.timeout(d, "defaults"), "retries": self.retries(d, "defaults")}
        return {k: v for k, v in found.items() if v is not None}

    def provider(self, raw: Any, index: int, line: int, defaults: dict[str, Any]) -> ProviderConfig:
        path = f"providers[{index}]"
        line = (p := self.mapping(raw, line, path)).line
        self.missing = None                       # name and kind identify the provider: no gaps
        name, _ = self.text(p, "name", path)
        if name is UNSET:
            raise self.fail("missing required field 'name'", line, f"{path}.name")
        self.safe_name(name, p.line_of("name"), f"{path}.name")
        if "kind" not in p:
            raise self.fail(f"missing required field 'kind' (one of {', '.join(KINDS)})", line, f"{path}.kind")
        kind = self.choice(p, "kind", path, KINDS, "")
        elsewhere = {k: f"'{k}' only applies to kind sse" for k in SSE_FIELDS if kind != "sse"}
        for owner, names in KIND_FIELDS.items():
            if kind != owner:
                elsewhere.update((k, f"'{k}' only applies to kind {owner}") for k in names)
        every = PROVIDER_FIELDS + SSE_FIELDS + sum(KIND_FIELDS.values(), ())
        allowed = tuple(k for k in every if k not in elsewhere)
        self.check_keys(p, allowed, path, elsewhere=elsewhere)

        self.missing = []
        model, model_missing = self.text(p, "model", path, default="")
        if not model and kind != "sse" and not model_missing:
            raise self.fail(f"missing required field 'model' (kind {kind} needs one)",
                            p.line_of("model") if "model" in p else line, f"{path}.model")
        vertex = self.vertex(p, path) if "vertex" in p else None
        region = None
        if kind == "bedrock":
            region = self.text(p, "region", path, default=None, nullable=True)[0] or \
                self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION") or "us-east-1"
        base_url, url_missing = self.text(p, "base_url", path, default=None, nullable=True)
        if not url_missing:
            if not base_url:
                base_url = (vertex.host() if vertex else f"https://bedrock-runtime.{region}.amazonaws.com"
                            if kind == "bedrock" else DEFAULT_BASE_URLS.get(kind))
                if not base_url:
                    example = "https://RESOURCE.openai.azure.com" if kind == "azure" else "http://localhost:8000"
                    raise self.fail(f"kind {kind} needs a base_url (e.g. {example})",
                                    p.line_of("base_url") if "base_url" in p else line, f"{path}.base_url")
            if not base_url.lower().startswith(("http://", "https://")):
                raise self.fail("must start with http:// or https://",
                                p.line_of("base_url"), f"{path}.base_url")
        base_url = (base_url or "").rstrip("/")
        first_secret = len(self.env_values)      # ${VAR} values from here on are this provider's secrets
        api_key, _ = self.text(p, "api_key", path, default=None, nullable=True)
        command = self.command(p, path)
        if api_key is not None and command is not None:
            raise self.fail("give api_key or api_key_command, not both", p.line_of("api_key_command"),
                            f"{path}.api_key_command")
        auth = self.choice(p, "auth", path, AUTHS, "key")
        deployment = self.text(p, "deployment", path, default=None, nullable=True)[0]
        if isinstance(p.get("api_version"), date):           # 2024-10-21 unquoted: YAML made it a date
            p["api_version"] = p["api_version"].isoformat()
        api_version = self.text(p, "api_version", path, default=None, nullable=True)[0]

        params = {**copy.deepcopy(defaults.get("params", {})), **(self.params(p, path) or {})}
        headers = {**defaults.get("headers", {}), **(self.headers(p, path) or {})}
        timeout = Timeouts(**{**defaults.get("timeout", {}), **(self.timeout(p, path) or {})})
        retries = r if (r := self.retries(p, path)) is not None else defaults.get("retries", 2)
        endpoint = self.endpoint(p, path) if kind == "sse" else None
        secrets = tuple(Secret(v) for v in self.env_values[first_secret:])

        unavailable = None
        if self.missing:
            self.missing.sort(key=lambda m: m[1])      # name them in file order
            missing_names = list(dict.fromkeys(n for n, _ in self.missing))
            plural = "s" if len(missing_names) > 1 else ""
            unavailable = (f"missing environment variable{plural} {', '.join(missing_names)} "
                           f"(used by provider '{name}' at {self.source}:{self.missing[0][1]})")
        self.missing = None
        return ProviderConfig(
            name=name, kind=kind, model=model, base_url=base_url,
            api_key=Secret(api_key) if api_key else None, params=params, headers=headers,
            timeout=timeout, retries=retries, auth=auth, endpoint=endpoint, deployment=deployment,
            api_version=api_version, vertex=vertex, region=region, api_key_command=command,
            price=self.price(p, path) if "price" in p else None,
            unavailable=unavailable, line=line, secrets=secrets)

    def command(self, p: MarkedDict, path: str) -> tuple[str, ...] | None:
        """``api_key_command``: a command line (split like a shell would, never run by one) or a list."""
        if "api_key_command" not in p or p["api_key_command"] is None:
            return None
        raw, line, where = p["api_key_command"], p.line_of("api_key_command"), f"{path}.api_key_command"
        if isinstance(raw, list) and all(isinstance(a, str) for a in raw):
            argv = [self.sub(a, line, where)[0] for a in raw]
        elif isinstance(raw, str):
            try:
                argv = shlex.split(self.sub(raw, line, where)[0])
            except ValueError as e:
                raise self.fail(f"cannot split the command ({e})", line, where) from None
        else:
            raise self.fail(f"must be a command line or a list of strings, got {type_name(raw)}", line, where)
        if not argv or not argv[0]:
            raise self.fail("is empty", line, where)
        return tuple(argv)

    def price(self, p: MarkedDict, path: str) -> Price:
        where = f"{path}.price"
        m = self.mapping(p["price"], p.line_of("price"), where, "a mapping like {input: 0.15, output: 0.60}")
        self.check_keys(m, PRICE_FIELDS, where)
        got: dict[str, float] = {}
        for key in PRICE_FIELDS:
            if key in m:
                got[key] = self.number(m[key], m.line_of(key), f"{where}.{key}",
                                       expected="a price in USD per million tokens, 0 or more")
            elif key != "cached_input":
                raise self.fail(f"missing required field '{key}' (USD per million tokens)", m.line, f"{where}.{key}")
        return Price(got["input"], got["output"], got.get("cached_input"))

    def vertex(self, p: MarkedDict, path: str) -> VertexTarget:
        where = f"{path}.vertex"
        v = self.mapping(p["vertex"], p.line_of("vertex"), where, "a mapping like {project: P, location: L}")
        self.check_keys(v, VERTEX_FIELDS, where)
        project, _ = self.text(v, "project", where, default="")
        if not project:
            raise self.fail("missing required field 'project'", v.line, f"{where}.project")
        location, _ = self.text(v, "location", where, default="us-central1")
        for value, key in ((project, "project"), (location, "location")):
            if not re.fullmatch(r"[a-z0-9-]+", value or ""):
                raise self.fail(f"{value!r} is not a Google Cloud {key} id (lower-case letters, digits, '-')",
                                v.line_of(key) if key in v else v.line, f"{where}.{key}")
        return VertexTarget(project, location)

    def endpoint(self, p: MarkedDict, path: str) -> SSEEndpoint:
        base = SSEEndpoint()
        body = base.body
        if "body" in p:
            body = self.data(p["body"], p.line_of("body"), f"{path}.body")
        opt: dict[str, Any] = {}
        for key in ("text_path", "done", "event", "error_path"):
            value, missing = self.text(p, key, path, default=getattr(base, key), nullable=True)
            if value == "" and not missing:
                raise self.fail("must not be empty (use null to turn it off)", p.line_of(key), f"{path}.{key}")
            opt[key] = value
        return SSEEndpoint(
            path=self.text(p, "path", path, default="")[0],
            method=self.choice(p, "method", path, METHODS, "POST", normalize=str.upper),
            body=body, mode=self.choice(p, "mode", path, MODES, "delta"), **opt)

    def config(self, text: str) -> Config:
        top, root_line = load_yaml(text, self.source)
        if top is None:
            raise self.fail("the file is empty; expected a mapping with a 'providers' list", 1, None)
        top = self.mapping(top, root_line, "", "a mapping with a 'providers' list (the top level)")
        self.check_keys(top, TOP_FIELDS, "")
        defaults = self.defaults(top)
        default_secrets = tuple(Secret(v) for v in self.env_values)
        if "providers" not in top:
            raise self.fail("missing required field: a list of providers", top.line, "providers")
        raw, pline = top["providers"], top.line_of("providers")
        if not isinstance(raw, list):
            raise self.fail(f"must be a list of providers, got {type_name(raw)}", pline, "providers")
        if not raw:
            raise self.fail("is empty: configure at least one provider", pline, "providers")
        return Config(providers=self.providers(raw, pline, defaults), defaults=defaults, source=self.source,
                      secrets=default_secrets)

    def providers(self, raw: list[Any], line: int, defaults: dict[str, Any]) -> tuple[ProviderConfig, ...]:
        """The ``providers`` list (written at ``line``): each validated, names unique."""
        out: list[ProviderConfig] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(raw):
            prov = self.provider(item, i, line_of(raw, i, line), defaults)
            if prov.name in seen:
                raise self.fail(f"duplicate provider name {prov.name!r} (first defined at line {seen[prov.name]}, "
                                f"again at line {prov.line})", prov.line, f"providers[{i}].name")
            seen[prov.name] = prov.line or 0
            out.append(prov)
        return tuple(out)


# -- public API ----------------------------------------------------------------------------

def parse_config(text: str, source: str = "<string>", *, env: Mapping[str, str] | None = None) -> Config:
    """Validate YAML text into a :class:`Config` (``source`` names the file in errors)."""
    with nesting_guard(source):
        return ConfigParser(source, os.environ if env is None else env).config(text)


def find_config_path(explicit: str | None = None, *, env: Mapping[str, str] | None = None,
                     cwd: Path | None = None, home: Path | None = None) -> Path | None:
    """``--config FILE``, then ``$TOKENRACE_CONFIG``, ``./tokenrace.yaml``,
    ``~/.config/tokenrace/config.yaml``; None when there is none.

    The first two must exist. Relative paths are resolved against ``cwd`` when it is given
    (and otherwise left relative to the process's directory, so messages stay short).
    """
    env = os.environ if env is None else env

    def place(p: str) -> Path:
        if home is not None and (p == "~" or p.startswith("~/")):
            p = str(home) + p[1:]
        path = Path(p).expanduser()
        return cwd / path if cwd is not None and not path.is_absolute() else path

    for value, origin in ((explicit, ""), (env.get(CONFIG_ENV), f" (from ${CONFIG_ENV})")):
        if value:
            path = place(value)
            if not path.is_file():
                why = " (it is a directory)" if path.is_dir() else ""
                raise ConfigError(f"config file not found: {value}{why}{origin}")
            return path
    local = place(LOCAL_NAME)
    if local.is_file():
        return local
    user = (home if home is not None else Path.home()).joinpath(*USER_PATH)
    return user if user.is_file() else None


def read_config(path: Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and parse one file."""
    return parse_config(read_source(path), str(path), env=env)


def load_config(explicit: str | None = None, *, env: Mapping[str, str] | None = None,
                cwd: Path | None = None, home: Path | None = None) -> Config | None:
    """The configuration found by :func:`find_config_path`, or None when there is no file."""
    path = find_config_path(explicit, env=env, cwd=cwd, home=home)
    return None if path is None else read_config(path, env=env)


def starter_text() -> str:
    """The commented example that ``tokenrace init`` writes."""
    return resources.files(__package__).joinpath("starter.yaml").read_text(encoding="utf-8")


def write_starter(path: Path, *, force: bool = False) -> Path:
    """Write the starter file; refuses to replace an existing file unless ``force``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError("is a directory; give a file name such as tokenrace.yaml", file=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w" if force else "x", encoding="utf-8") as fh:
            fh.write(starter_text())
    except FileExistsError:
        raise ConfigError("already exists; not overwriting it (use --force to replace it)",
                          file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
    return path
