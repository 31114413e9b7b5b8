"""Chunking real-looking files with the real grammars."""

from __future__ import annotations

import textwrap

import pytest

from codeseek.parsing import chunk_file


def chunks_of(path: str, source: str) -> list[tuple[str, str, int, int]]:
    data = textwrap.dedent(source).lstrip("\n").encode()
    return [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunk_file(path, data)]


def test_python_definitions_methods_decorators_and_module_code() -> None:
    got = chunks_of(
        "pkg/client.py",
        '''
        import os

        TIMEOUT = 3

        class Client:
            """Talks to the server."""

            @property
            def url(self):
                return self._url

            def fetch(self, path):
                def inner():
                    return 1
                return inner()

        # Sum two numbers.
        def add(a, b):
            return a + b
        ''',
    )
    assert got == [
        ("module", "client.py", 1, 3),
        ("class", "Client", 5, 15),
        ("method", "Client.url", 8, 10),
        ("method", "Client.fetch", 12, 15),
        ("function", "Client.fetch.inner", 13, 14),
        ("function", "add", 17, 19),
    ]


def test_class_chunk_elides_member_bodies_and_header_names_the_class() -> None:
    data = b"class A:\n    x = 1\n\n    def long(self):\n        a = 1\n        return a\n"
    cls, method = chunk_file("a.py", data)
    assert cls.text == "class A:\n    x = 1\n\n    def long(self):\n        ..."
    assert method.embedding_text().startswith("a.py > class A\n    def long(self):")


def test_javascript_functions_classes_and_arrow_functions() -> None:
    got = chunks_of(
        "src/util.js",
        """
        /** Slugify a title. */
        export function slugify(t) {
          return t.toLowerCase();
        }

        export const debounce = (fn, ms) => {
          let timer;
        };

        class Cache {
          get(key) {
            return this.m.get(key);
          }
        }
        """,
    )
    assert got == [
        ("function", "slugify", 1, 4),
        ("function", "debounce", 6, 8),
        ("class", "Cache", 10, 14),
        ("method", "Cache.get", 11, 13),
    ]


def test_a_module_function_made_by_a_wrapper_is_named_by_what_it_is_assigned_to() -> None:
    """`M.update = throttle_async(opts, function ... end)`, `const onResize = debounce(() => ...)`:
    a module's function passed to a wrapper is a definition of the name it is assigned to; inside
    a body such an assignment is a value computed there, part of its function's chunk."""
    lua = chunks_of(
        "lua/plugin/manager.lua",
        """
        local M = {}

        -- Refresh the buffer's signs.
        M.update = throttle_async({ hash = 1 }, function(bufnr)
          local names = vim.tbl_map(function(h) return h.name end, hunks)
          return render(bufnr, names)
        end)

        local warn = vim.schedule_wrap(function(msg)
          print(msg)
        end)

        local ok, err = pcall(function() return require("x") end)
        return M
        """,
    )
    assert lua == [
        ("module", "manager.lua", 1, 14),
        ("function", "M.update", 3, 7),
        ("function", "warn", 9, 11),
    ]
    source = """
        export const onResize = debounce(() => {
          layout(window.innerWidth);
        }, 100);

        var legacy = wrap(function (req) {
          const sizes = req.items.map((item) => item.size);
          return sizes;
        });

        exports.handler = middleware(async (event) => event.body);

        const total = sum(values);
        const sizes = items.map((item) => item.size);
        load().then(function (x) { return x; });
        """
    for path in ("src/window.js", "src/window.ts", "src/window.tsx"):  # one shared query (queries/shared)
        assert [(kind, symbol) for kind, symbol, _, _ in chunks_of(path, source)] == [
            ("module", path.rpartition("/")[2]), ("function", "onResize"), ("function", "legacy"),
            ("function", "handler")], path


def test_typescript_interfaces_types_enums_and_methods() -> None:
    got = chunks_of(
        "src/api.ts",
        """
        export interface User {
          id: string;
        }
        type Id = string;
        enum Color { Red, Green }
        export class Api {
          async get(id: Id): Promise<User> {
            return fetch(id);
          }
        }
        """,
    )
    assert got == [
        ("interface", "User", 1, 3),
        ("type", "Id", 4, 4),
        ("enum", "Color", 5, 5),
        ("class", "Api", 6, 10),
        ("method", "Api.get", 7, 9),
    ]


def test_tsx_component() -> None:
    got = chunks_of("ui/Button.tsx", "export function Button(p: Props) {\n  return <button>{p.label}</button>;\n}\n")
    assert got == [("function", "Button", 1, 3)]


def test_go_methods_are_named_by_receiver() -> None:
    got = chunks_of(
        "server.go",
        """
        package server

        // Server serves.
        type Server struct {
        	root string
        }

        type Handler interface {
        	Handle()
        }

        // Handle serves a request.
        func (s *Server) Handle() {}

        func New() *Server { return &Server{} }
        """,
    )
    assert got == [
        ("module", "server.go", 1, 1),
        ("struct", "Server", 3, 6),
        ("interface", "Handler", 8, 10),
        ("method", "(*Server).Handle", 12, 13),
        ("function", "New", 15, 15),
    ]


def test_text_files_become_line_windows() -> None:
    text = "\n".join(f"line {i}" for i in range(1, 121)) + "\n"
    got = [(c.kind, c.start_line, c.end_line) for c in chunk_file("docs/notes.md", text.encode())]
    assert got == [("text", 1, 50), ("text", 41, 90), ("text", 81, 120)]


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbfdef f():\r\n    return 1\r\n",  # BOM and CRLF
        b"def f():\n    return '\xff\xfe'\n",  # invalid UTF-8
    ],
)
def test_awkward_bytes_still_chunk(data: bytes) -> None:
    (chunk,) = chunk_file("m.py", data)
    assert (chunk.symbol, chunk.start_line, chunk.end_line) == ("f", 1, 2)
    assert "\r" not in chunk.text


def test_syntax_errors_keep_what_parses() -> None:
    data = b"def good():\n    return 1\n\ndef broken(:\n    pass\n\ndef also_good():\n    return 2\n"
    symbols = [c.symbol for c in chunk_file("m.py", data)]
    assert "good" in symbols and "also_good" in symbols


def test_typescript_overloads_fold_into_their_implementation() -> None:
    got = chunks_of(
        "retry.ts",
        """
        export function retry(count?: number): Operator;
        export function retry(config: RetryConfig): Operator;

        /**
         * Resubscribes after an error.
         */
        export function retry(configOrCount: number | RetryConfig = Infinity): Operator {
          return operate(configOrCount);
        }

        export function other(): void {}
        """,
    )
    assert got == [("function", "retry", 1, 9), ("function", "other", 11, 11)]


def test_an_end_of_line_comment_belongs_to_its_line() -> None:
    """A comment after code on its line (`= []  -- note`, a signature's last `-- ^`) neither leads
    the definition below it nor keeps a signature and its equations apart (containers'
    `stronglyConnCompR` was two chunks, neither with its haddock)."""
    got = chunks_of(
        "Graph.hs",
        """
        module Graph where

        -- | The components, sorted.
        sccR
                :: [Int]    -- ^ The nodes
                -> [[Int]]  -- ^ Sorted

        sccR [] = []  -- nothing to sort
        sccR nodes = sort nodes

        size :: Int  -- ^ Always one
        size = 1  -- the unit
        limit = 2
        """,
    )
    assert got[1:] == [("function", "sccR", 3, 9), ("function", "size", 11, 12), ("function", "limit", 13, 13)]


def test_jsdoc_a_blank_line_above_and_named_function_exports() -> None:
    got = chunks_of(
        "addMethod.js",
        """
        var flag = require('./flag');

        /**
         * Adds a method to an object's prototype.
         */

        module.exports = function addMethod(ctx, name, method) {
          ctx[name] = method;
        };

        exports.plain = function (x) {
          return x;
        };
        """,
    )
    assert got == [("module", "addMethod.js", 1, 1), ("function", "addMethod", 3, 9),
                   ("function", "plain", 11, 13)]


@pytest.mark.parametrize(
    ("path", "source", "member_body"),
    [
        ("lib/net.rb", "module Net\n  TIMEOUT = 3\n\n  class Client\n    def get(url)\n      fetch_body(url)\n    end\n  end\nend\n",
         "fetch_body"),
        ("lib/web/router.ex", "defmodule Web.Router do\n  @timeout 5000\n  def add(router, path) do\n"
         "    Map.put(router, path, :route)\n  end\nend\n", "Map.put"),
        ("src/store.cpp", "namespace store {\nconst int LIMIT = 3;\nint clamp(int v) {\n  return v > LIMIT ? LIMIT : v;\n}\n}\n",
         "return v"),
    ],
)
def test_a_namespace_chunk_outlines_its_members(path: str, source: str, member_body: str) -> None:
    """A Ruby `module`, an Elixir `defmodule` or a C++ `namespace` usually spans its whole file:
    its chunk keeps its own code and its members' signatures, and each member's body is in the
    member's chunk only, not repeated in its namespace's."""
    chunks = chunk_file(path, source.encode())
    namespace = next(c for c in chunks if c.kind == "namespace")
    holding = [c.symbol for c in chunks if member_body in c.text]
    assert len(holding) == 1 and holding[0] != namespace.symbol
    assert "..." in namespace.text and ("TIMEOUT" in namespace.text or "timeout" in namespace.text
                                        or "LIMIT" in namespace.text)


def test_a_doc_comment_below_a_body_on_its_own_lines_is_the_next_definitions() -> None:
    """tree-sitter-scala ends `def head(...) =` with its body on the next line at the next
    definition, so the doc comment between them was the body's last line: it leads the
    definition it documents."""
    source = (
        "abstract class Builder {\n"
        "  def programName(x: String): Parser =\n"
        "    wrap(x)\n"
        "\n"
        "  /** Adds usage text. */\n"
        "  def head(xs: String*): Parser =\n"
        "    wrap(xs.mkString)\n"
        "}\n"
    )
    chunks = {c.symbol: c for c in chunk_file("Builder.scala", source.encode())}
    assert (chunks["Builder.programName"].start_line, chunks["Builder.programName"].end_line) == (2, 3)
    assert (chunks["Builder.head"].start_line, chunks["Builder.head"].end_line) == (5, 7)
    assert "usage" not in chunks["Builder.programName"].text and "usage" in chunks["Builder.head"].text
