"""The same search for coding agents: a Model Context Protocol server over stdio.

Newline-delimited JSON-RPC 2.0 (the MCP stdio transport) with the tools `find` and
`similar`, answered through the warm process (or in this process when none may run), so
results match `codeseek find` exactly. A malformed message gets a JSON-RPC error and the
server goes on serving: an agent's mistake never ends the session.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from . import __version__
from .access import Searcher
from .errors import CodeseekError
from .protocol import FIND_SCHEMA, SIMILAR_SCHEMA, FindRequest, SimilarRequest

PROTOCOL_VERSION = "2025-06-18"
MAX_LINE = 1 << 20  # bytes of one message
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
TOOLS = [
    {
        "name": "find",
        "description": "Find the functions and classes in this repository that do what the query says, "
                       "best first, with path, lines, symbol and code.",
        "inputSchema": FIND_SCHEMA,
    },
    {
        "name": "similar",
        "description": "Find the code nearest in meaning to an existing function (PATH:LINE or a symbol name): "
                       "duplicates and prior art.",
        "inputSchema": SIMILAR_SCHEMA,
    },
]


def _error(message_id: object, code: int, text: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text}}


def handle(searcher: Searcher, message: object) -> dict[str, Any] | None:
    """The response to one JSON-RPC message (None for notifications)."""
    if not isinstance(message, dict):
        return _error(None, INVALID_REQUEST, "a message must be a JSON object")
    message_id = message.get("id")
    if not (message_id is None or isinstance(message_id, str | int) and not isinstance(message_id, bool)):
        return _error(None, INVALID_REQUEST, "id must be a string or a number")
    method = message.get("method")
    if "id" not in message and isinstance(method, str):
        return None  # notifications (initialized, cancelled) need no answer
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(method, str) or not isinstance(params, dict):
        return _error(message_id, INVALID_REQUEST, "method must be a string and params an object")
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message_id}
    if method == "initialize":
        version = params.get("protocolVersion")
        reply["result"] = {"protocolVersion": version if isinstance(version, str) else PROTOCOL_VERSION,
                           "capabilities": {"tools": {}},
                           "serverInfo": {"name": "codeseek", "version": __version__}}
    elif method == "ping":
        reply["result"] = {}
    elif method == "tools/list":
        reply["result"] = {"tools": TOOLS}
    elif method == "tools/call":
        return _call(searcher, message_id, params)
    else:
        return _error(message_id, METHOD_NOT_FOUND, f"method not found: {method[:80]}")
    return reply


def _call(searcher: Searcher, message_id: object, params: dict[str, Any]) -> dict[str, Any]:
    name, arguments = params.get("name"), params.get("arguments", {})
    if arguments is None:
        arguments = {}
    if name not in ("find", "similar") or not isinstance(arguments, dict):
        return _error(message_id, INVALID_PARAMS, "call the tool find or similar, with an object of arguments")
    try:
        if name == "find":
            results = searcher.find(FindRequest.from_json(arguments))
        else:
            results = searcher.similar(SimilarRequest.from_json(arguments))
    except CodeseekError as exc:
        return {"jsonrpc": "2.0", "id": message_id,
                "result": {"content": [{"type": "text", "text": f"Error: {exc}"}], "isError": True}}
    answer = results.to_json()
    return {"jsonrpc": "2.0", "id": message_id,
            "result": {"content": [{"type": "text", "text": json.dumps(answer["hits"], indent=1)}],
                       "structuredContent": answer, "isError": False}}


def serve_stdio(searcher: Searcher, stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> None:
    for line in stdin:
        if not line.strip():
            continue
        reply: dict[str, Any] | None
        if len(line) > MAX_LINE:
            reply = _error(None, INVALID_REQUEST, f"a message must be under {MAX_LINE:,} bytes")
        else:
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):
                reply = _error(None, PARSE_ERROR, "parse error")
            else:
                try:
                    reply = handle(searcher, message)
                except Exception as exc:  # noqa: BLE001 - one bad call must not end the session
                    reply = _error(message.get("id") if isinstance(message, dict) else None, -32603,
                                   f"internal error: {type(exc).__name__}: {exc}")
        if reply is not None:
            stdout.write(json.dumps(reply) + "\n")
            stdout.flush()
