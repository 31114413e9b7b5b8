"""The same search for coding agents: a Model Context Protocol server over stdio.

Newline-delimited JSON-RPC 2.0 (the MCP stdio transport) with the tools `find` and
`similar`; it answers through server.Service, so results match `codeseek serve` exactly.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from . import __version__
from .errors import CodeseekError
from .server import Service

PROTOCOL_VERSION = "2025-06-18"
FILTERS = {
    "k": {"type": "integer", "minimum": 1, "description": "How many results (default 10)."},
    "paths": {"type": "array", "items": {"type": "string"},
              "description": "Path globs; a leading ! excludes; a folder matches everything below it."},
    "languages": {"type": "array", "items": {"type": "string"}, "description": "Only these languages."},
    "kinds": {"type": "array", "items": {"type": "string"}, "description": "Only these kinds (function, class...)."},
}
TOOLS = [
    {
        "name": "find",
        "description": "Find the functions and classes in this repository that do what the query says, "
                       "best first, with path, lines, symbol and code.",
        "inputSchema": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What the code should do, or an identifier."},
                           "mode": {"type": "string", "enum": ["hybrid", "semantic", "lexical"]}, **FILTERS},
            "required": ["query"],
        },
    },
    {
        "name": "similar",
        "description": "Find the code nearest in meaning to an existing function (PATH:LINE or a symbol name): "
                       "duplicates and prior art.",
        "inputSchema": {
            "type": "object",
            "properties": {"where": {"type": "string", "description": "PATH:LINE or a symbol, e.g. Parser.parse"},
                           **FILTERS},
            "required": ["where"],
        },
    },
]


def handle(service: Service, message: dict[str, Any]) -> dict[str, Any] | None:
    """The response to one JSON-RPC message (None for notifications)."""
    method = message.get("method")
    if "id" not in message:
        return None  # notifications (initialized, cancelled) need no answer
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
    params = message.get("params") or {}
    if method == "initialize":
        reply["result"] = {"protocolVersion": params.get("protocolVersion", PROTOCOL_VERSION),
                           "capabilities": {"tools": {}},
                           "serverInfo": {"name": "codeseek", "version": __version__}}
    elif method == "ping":
        reply["result"] = {}
    elif method == "tools/list":
        reply["result"] = {"tools": TOOLS}
    elif method == "tools/call" and params.get("name") in ("find", "similar"):
        try:
            answer = service.handle(f"/{params['name']}", params.get("arguments") or {})
            reply["result"] = {"content": [{"type": "text", "text": json.dumps(answer["hits"], indent=1)}],
                               "structuredContent": answer, "isError": False}
        except (CodeseekError, KeyError, ValueError, TypeError) as exc:
            reply["result"] = {"content": [{"type": "text", "text": f"codeseek: {exc}"}], "isError": True}
    else:
        reply["error"] = {"code": -32601, "message": f"method not found: {method}"}
    return reply


def serve_stdio(service: Service, stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> None:
    for line in stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            reply: dict[str, Any] | None = {"jsonrpc": "2.0", "id": None,
                                             "error": {"code": -32700, "message": "parse error"}}
        else:
            reply = handle(service, message)
        if reply is not None:
            stdout.write(json.dumps(reply) + "\n")
            stdout.flush()
