"""The README is a contract: commands, the JSON schema and the editor recipes stay true."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from codeseek import cli as cli_module
from codeseek.output import vimgrep_line
from codeseek.search import Hit

from .conftest import MakeRepo

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, command in group.commands.items():
        if command.hidden:
            continue
        out.extend(commands(command, f"{prefix}{name} ") if isinstance(command, click.Group) else [prefix + name])
    return out


def test_every_command_is_documented_and_has_help() -> None:
    for name in commands(cli_module.cli):
        assert f"codeseek {name}" in README, name
        command = cli_module.cli
        for part in name.split():
            command = command.commands[part]  # type: ignore[attr-defined]
        assert command.help, name


def test_json_schema_table_matches_the_hits() -> None:
    section = README.split("## JSON output")[1].split("##")[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert documented == [f.name for f in dataclasses.fields(Hit)]


def code_block(language: str, after: str) -> str:
    return README.split(after, 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_vscode_problem_matcher_reads_vimgrep_output() -> None:
    task = json.loads(code_block("json", "**VS Code, a task**"))
    pattern = task["tasks"][0]["problemMatcher"]["pattern"]
    hit = Hit("src/net/retry.py", 10, 20, "Client.retry", "method", "python", 0.5,
              "    # Retry.\n    def retry(self, fn):\n        return fn()")
    match = re.match(pattern["regexp"], vimgrep_line(hit))
    assert match is not None
    assert (match[pattern["file"]], match[pattern["line"]], match[pattern["column"]]) == ("src/net/retry.py", "11", "9")


@pytest.mark.skipif(shutil.which("nvim") is None, reason="needs Neovim")
def test_neovim_recipes_fill_the_quickfix_list(run, make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo()
    run(root, "index")
    lua = tmp_path / "codeseek.lua"
    lua.write_text(code_block("lua", "**Neovim, a `:Codeseek` command"))
    grep_settings = code_block("vim", "**Neovim, quickfix through `:grep`**").splitlines()[0]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    report = "lua io.stdout:write(vim.fn.bufname(vim.fn.getqflist()[1].bufnr) .. ':' .. vim.fn.getqflist()[1].lnum .. '\\n')"
    for commands_ in (
        ["-c", f"luafile {lua}", "-c", "Codeseek read the server configuration from a YAML file"],
        ["-c", grep_settings, "-c", 'silent grep "read the server configuration from a YAML file"'],
    ):
        result = subprocess.run(["nvim", "--headless", "-u", "NONE", *commands_, "-c", report, "-c", "qa!"],
                                 cwd=root, capture_output=True, text=True, timeout=120, env=env)
        assert result.stdout.strip().splitlines()[-1] in ("server/server.go:19", "server/server.go:20"), result
