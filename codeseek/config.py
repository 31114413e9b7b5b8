"""Settings: command-line flags win over environment variables (`CODESEEK_*`), which win over
the repository's config file (`.codeseek.toml`, or `[tool.codeseek]` in pyproject.toml).

Every value is checked where it is read, and a wrong one is named with where it came from
and what it must be: a cloned repository's config file is written by someone else, so it
must never be able to crash codeseek, nor switch on `trust_remote_code` (running model code
from the internet), which takes a command-line flag.
"""

from __future__ import annotations

import os
import tomllib
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .embedding import BACKENDS, EngineSettings
from .errors import CodeseekError
from .fsutil import MAX_SETTINGS_BYTES, read_small
from .skipping import DEFAULT_EXCLUDES, SkipRules

FORBIDDEN = {"trust_remote_code"}
ENGINE_FIELDS = {f.name for f in fields(EngineSettings)} - FORBIDDEN - {"api_key", "model_from"}


def _text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 4096 and value.isprintable()


def _positive(value: object) -> bool:
    return type(value) is int and 0 < value < 1 << 31


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def _url(value: object) -> bool:
    if not _text(value):
        return False
    parsed = urllib.parse.urlsplit(str(value))
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def _urls(value: object) -> bool:
    """One server, or several (a list in the file, comma-separated in a flag or variable)."""
    return _url(value) or (isinstance(value, tuple) and len(value) > 0 and all(_url(v) for v in value))


def _patterns(value: object) -> bool:
    return isinstance(value, tuple) and all(_text(v) for v in value)


def _boolean(value: object) -> bool:
    return isinstance(value, bool)


# What each setting must be, in words for the error message.
CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "backend": (lambda v: v in (*BACKENDS, "auto"), f"one of auto, {', '.join(BACKENDS)}"),
    "model": (_text, "a model name or path"),
    "dim": (_positive, "a positive whole number"),
    "base_url": (_urls, "an http:// or https:// URL, or a list of them"),
    "api_key_env": (_text, "the name of an environment variable"),
    "query_instruction": (_text, "a line of text"),
    "device": (_text, "a torch device such as cpu or cuda:0"),
    "max_file_bytes": (_positive, "a positive whole number of bytes"),
    "exclude": (_patterns, "a list of path patterns"),
    "include": (_patterns, "a list of path patterns"),
    "server": (_boolean, "true or false"),
    "transformer_limit": (_count, "a whole number of chunks (0: the static tier alone)"),
    "editor_url": (_text, "a URL template with {path} and {line}"),
}
NUMERIC = frozenset({"dim", "max_file_bytes", "transformer_limit"})  # given as text, parsed as whole numbers
API_KEY_ENV = "CODESEEK_API_KEY"  # the variable holding a server's key, unless api_key_env names another
# Environment variables, and the setting each gives.
ENVIRONMENT = {
    "CODESEEK_BACKEND": "backend",
    "CODESEEK_MODEL": "model",
    "CODESEEK_DIM": "dim",
    "CODESEEK_BASE_URL": "base_url",
    "CODESEEK_TRANSFORMER_LIMIT": "transformer_limit",
}


@dataclass(frozen=True)
class Config:
    """A repository's settings (everything has a default)."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    max_file_bytes: int | None = None
    exclude: tuple[str, ...] = ()  # added to the default exclusions
    include: tuple[str, ...] = ()  # exceptions to them
    server: bool | None = None  # False: never leave a warm process behind (CODESEEK_SERVER=0)
    editor_url: str | None = None  # the web page's "open in editor" link

    def skip_rules(self) -> SkipRules:
        return SkipRules(
            max_file_bytes=self.max_file_bytes or SkipRules.max_file_bytes,
            exclude=DEFAULT_EXCLUDES + self.exclude,
            include=self.include,
        )


def check(name: str, value: object, source: str) -> object:
    """The value if it is what the setting must be; else a one-line error naming both."""
    if isinstance(value, list):
        value = tuple(value)
    if name == "base_url" and isinstance(value, str) and "," in value:
        value = tuple(part.strip() for part in value.split(",") if part.strip())
    test, what = CHECKS[name]
    if not test(value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        if name == "backend":
            raise CodeseekError(f"{source}: unknown backend {shown}; choose from {what.removeprefix('one of ')}")
        raise CodeseekError(f"{source}: {name} = {shown} is not {what}")
    return value


def from_text(name: str, text: str, source: str) -> object:
    """A setting given as text (an environment variable, a flag): numbers are parsed."""
    value: object = text
    if name in NUMERIC:
        try:
            value = int(text)
        except ValueError:
            raise CodeseekError(f"{source}: {text!r} is not {CHECKS[name][1]}") from None
    return check(name, value, source)


def environment() -> dict[str, object]:
    """Settings from CODESEEK_* variables, checked."""
    found: dict[str, object] = {}
    for variable, name in ENVIRONMENT.items():
        text = os.environ.get(variable)
        if text:
            found[name] = from_text(name, text, variable)
    return found


def server_enabled(cfg: Config) -> bool:
    """Whether a warm process may be left behind: CODESEEK_SERVER=0 (or `server = false` in
    the config file) says no, for CI and for people who dislike background processes."""
    text = os.environ.get("CODESEEK_SERVER", "").strip().lower()
    if text:
        return text not in ("0", "false", "no", "off")
    return cfg.server is not False


IDLE_ENV = "CODESEEK_SERVER_IDLE"


def server_idle() -> int | None:
    """CODESEEK_SERVER_IDLE (seconds the warm process waits without a request), checked
    before a warm process is started with it; None when unset."""
    text = os.environ.get(IDLE_ENV, "").strip()
    if not text:
        return None
    value = int(text) if text.isdigit() else 0
    if not _positive(value):
        raise CodeseekError(f"{IDLE_ENV}: {text[:80]!r} is not a positive whole number of seconds")
    return value


def load(root: Path) -> Config:
    table, source = _table(root)
    engine: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for key, value in table.items():
        if key in FORBIDDEN:
            raise CodeseekError(f"{source}: {key} cannot be set in a config file; pass --{key.replace('_', '-')} instead")
        if key not in CHECKS:
            raise CodeseekError(f"{source}: unknown setting {key!r} in codeseek's config")
        (engine if key in ENGINE_FIELDS else own)[key] = check(key, value, str(source))
    if "model" in engine:
        engine["model_from"] = str(source)
    return Config(engine=EngineSettings(**engine), **own)


def engine_settings(cfg: Config, flags: dict[str, object], trust_remote_code: bool = False) -> EngineSettings:
    """Flags over environment over the config file."""
    return request_settings(cfg, request_engine(cfg, flags), trust_remote_code)


def request_engine(cfg: Config, flags: dict[str, object]) -> dict[str, object]:
    """The engine settings a request carries to whichever process answers it: this caller's
    flags over this caller's environment, checked here, and the API key its settings name
    ("" for none). The config file is not included: the answering process reads it."""
    variables = environment()
    chosen = {k: v for k, v in {**variables, **flags}.items() if v is not None}
    if "model" in chosen:  # named where the model it sets cannot load
        chosen["model_from"] = "--model" if flags.get("model") is not None else "CODESEEK_MODEL"
    key_env = chosen.get("api_key_env") or cfg.engine.api_key_env or API_KEY_ENV
    return {**chosen, "api_key": os.environ.get(str(key_env), "")}


def request_settings(cfg: Config, chosen: dict[str, object], trust_remote_code: bool = False) -> EngineSettings:
    """A request's engine: the settings it carries (`request_engine`) over the repository's
    config file. The environment of the process that answers plays no part: the warm process
    serves every client, each with its own settings."""
    given = {k: v for k, v in chosen.items() if v is not None}
    return replace(cfg.engine, **given, trust_remote_code=trust_remote_code)


def _table(root: Path) -> tuple[dict[str, Any], Path | None]:
    source = root / ".codeseek.toml"
    if (data := _read(source)) is not None:
        tool = data.get("tool")
        table = tool.get("codeseek", data) if isinstance(tool, dict) else data
    elif (data := _read(root / "pyproject.toml")) is not None:
        source = root / "pyproject.toml"
        tool = data.get("tool")
        table = tool.get("codeseek", {}) if isinstance(tool, dict) else {}
    else:
        return {}, None
    if not isinstance(table, dict):
        raise CodeseekError(f"{source}: [tool.codeseek] is not a table of settings")
    return table, source


def _read(path: Path) -> dict[str, Any] | None:
    """A config file's contents (None: there is none). Only a regular file of at most
    MAX_SETTINGS_BYTES is read: a cloned repository's `.codeseek.toml` linked to /dev/zero or a
    FIFO must not hang codeseek or fill its memory."""
    try:
        raw = read_small(path, MAX_SETTINGS_BYTES)
        return None if raw is None else tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CodeseekError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise CodeseekError(f"cannot read {path}: {exc.strerror}") from None
