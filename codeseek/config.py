"""Settings from a repository's config file: `.codeseek.toml`, or `[tool.codeseek]` in
pyproject.toml. Command-line flags and environment variables win over it.

A repository's file is written by whoever wrote the repository, so it can never switch on
`trust_remote_code` (running model code from the internet): that takes a command-line flag.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .embedding import EngineSettings
from .errors import CodeseekError
from .skipping import DEFAULT_EXCLUDES, SkipRules

FORBIDDEN = {"trust_remote_code"}


@dataclass(frozen=True)
class Config:
    backend: str | None = None
    model: str | None = None
    dim: int | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    query_instruction: str | None = None
    max_file_bytes: int | None = None
    exclude: tuple[str, ...] = ()  # added to the default exclusions
    include: tuple[str, ...] = ()  # exceptions to the exclusions

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(
            backend=self.backend or "auto",
            model=self.model,
            dim=self.dim,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            query_instruction=self.query_instruction,
        )

    def skip_rules(self) -> SkipRules:
        return SkipRules(
            max_file_bytes=self.max_file_bytes or SkipRules.max_file_bytes,
            exclude=DEFAULT_EXCLUDES + self.exclude,
            include=self.include,
        )


def load(root: Path) -> Config:
    table: dict[str, Any] = {}
    source = root / ".codeseek.toml"
    if source.is_file():
        data = _read(source)
        table = data.get("tool", {}).get("codeseek", data)
    elif (root / "pyproject.toml").is_file():
        source = root / "pyproject.toml"
        table = _read(source).get("tool", {}).get("codeseek", {})
    if not table:
        return Config()
    known = {f.name: f for f in fields(Config)}
    for key in table:
        if key in FORBIDDEN:
            raise CodeseekError(f"{source}: {key} cannot be set in a config file; pass --{key.replace('_', '-')} instead")
        if key not in known:
            raise CodeseekError(f"{source}: unknown setting {key!r} in codeseek's config")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    return Config(**values)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CodeseekError(f"{path} is not valid TOML: {exc}") from None
