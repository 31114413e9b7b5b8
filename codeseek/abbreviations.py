"""The short forms code writes for English words (`env` for environment, `ctx` for context,
`cfg` for configuration), so a question's words find code that abbreviates them, and a query's
abbreviation finds code that spells the word out. A term matches in a short form the index holds
(Query.held), as it does in its plural or -ing form, earning its idf's share (wordscale.py).

Only abbreviations that mean one word in code: `res` (result or resource or response), `ts`
(TypeScript) and `def` (Python's keyword) are left out."""

from __future__ import annotations

WORDS: dict[str, tuple[str, ...]] = {
    "address": ("addr",),
    "administrator": ("admin",),
    "allocate": ("alloc",),
    "allocation": ("alloc",),
    "application": ("app",),
    "argument": ("arg", "args"),
    "arguments": ("args", "arg"),
    "asynchronous": ("async",),
    "attribute": ("attr", "attrs"),
    "authentication": ("auth", "authn"),
    "authorization": ("auth", "authz"),
    "boolean": ("bool",),
    "buffer": ("buf",),
    "callback": ("cb",),
    "certificate": ("cert",),
    "character": ("char",),
    "command": ("cmd",),
    "configuration": ("config", "cfg", "conf"),
    "config": ("cfg", "conf", "configuration"),
    "connection": ("conn",),
    "context": ("ctx",),
    "current": ("cur", "curr"),
    "database": ("db",),
    "description": ("desc",),
    "destination": ("dst", "dest"),
    "dictionary": ("dict",),
    "directory": ("dir",),
    "document": ("doc",),
    "environment": ("env",),
    "error": ("err",),
    "execute": ("exec",),
    "expression": ("expr",),
    "generate": ("gen",),
    "identifier": ("id", "ident"),
    "index": ("idx",),
    "information": ("info",),
    "initialize": ("init",),
    "initialise": ("init",),
    "initialization": ("init",),
    "integer": ("int",),
    "iterator": ("iter",),
    "length": ("len",),
    "library": ("lib",),
    "maximum": ("max",),
    "message": ("msg",),
    "minimum": ("min",),
    "number": ("num",),
    "object": ("obj",),
    "package": ("pkg",),
    "parameter": ("param", "params"),
    "parameters": ("params", "param"),
    "password": ("passwd", "pwd"),
    "pointer": ("ptr",),
    "previous": ("prev",),
    "reference": ("ref",),
    "repository": ("repo",),
    "request": ("req",),
    "response": ("resp",),
    "sequence": ("seq",),
    "source": ("src",),
    "specification": ("spec",),
    "statement": ("stmt",),
    "string": ("str",),
    "synchronize": ("sync",),
    "synchronous": ("sync",),
    "temporary": ("tmp", "temp"),
    "transaction": ("txn", "tx"),
    "utility": ("util", "utils"),
    "utilities": ("utils", "util"),
    "value": ("val",),
    "variable": ("var",),
}
# And back: a query's `ctx` finds `context`.
SHORT: dict[str, tuple[str, ...]] = {}
for _word, _shorts in WORDS.items():
    for _short in _shorts:
        SHORT[_short] = (*SHORT.get(_short, ()), _word)


def short_forms(word: str) -> tuple[str, ...]:
    """The abbreviations code writes for the word, or the words an abbreviation stands for."""
    return WORDS.get(word, ()) + SHORT.get(word, ())
