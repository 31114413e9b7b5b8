"""One real-looking fixture per language: the symbols, kinds and line ranges a developer expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeseek import languages
from codeseek.parsing import chunk_file

FIXTURES = Path(__file__).parent / "fixtures" / "languages"

EXPECTED = {
    "point.rs": [
        ("module", "point.rs", 1, 1),
        ("struct", "Point", 3, 8),
        ("trait", "Shape", 10, 12),
        ("method", "Shape::area", 11, 11),
        ("impl", "impl fmt::Display for Point", 14, 18),
        ("method", "Point::fmt", 15, 17),
        ("impl", "impl Point", 20, 24),
        ("method", "Point::new", 21, 23),
        ("enum", "Direction", 26, 29),
    ],
    "Server.java": [
        ("module", "Server.java", 1, 3),
        ("class", "Server", 5, 22),
        ("method", "Server.Server", 10, 12),
        ("method", "Server.toString", 14, 17),
        ("interface", "Server.Handler", 19, 21),
        ("method", "Server.Handler.handle", 20, 20),
    ],
    "list.c": [
        ("module", "list.c", 1, 1),
        ("struct", "node", 3, 6),
        ("function", "push", 8, 14),
        ("function", "length", 16, 20),
    ],
    "cache.cpp": [
        ("module", "cache.cpp", 1, 1),
        ("namespace", "store", 3, 22),
        ("class", "store::Cache", 5, 13),
        ("method", "store::Cache::get", 7, 9),
        ("function", "store::clamp", 17, 20),
    ],
    "Greeter.cs": [
        ("module", "Greeter.cs", 1, 21),
        ("class", "Greeter", 5, 15),
        ("method", "Greeter.Greeter", 9, 9),
        ("method", "Greeter.Greet", 11, 14),
        ("interface", "IGreeter", 17, 20),
        ("method", "IGreeter.Greet", 19, 19),
    ],
    "client.rb": [
        ("module", "client.rb", 1, 1),
        ("namespace", "Net", 3, 14),
        ("class", "Net.Client", 5, 13),
        ("method", "Net.Client.initialize", 6, 8),
        ("method", "Net.Client.default", 10, 12),
    ],
    "Router.php": [
        ("module", "Router.php", 1, 3),
        ("class", "Router", 5, 12),
        ("method", "Router::dispatch", 8, 11),
        ("function", "helper", 14, 17),
    ],
    "Repository.kt": [
        ("module", "Repository.kt", 1, 3),
        ("class", "Repository", 5, 10),
        ("method", "Repository.load", 7, 9),
        ("interface", "Store", 12, 14),
        ("method", "Store.save", 13, 13),
        ("function", "main", 16, 18),
    ],
    "Shapes.swift": [
        ("module", "Shapes.swift", 1, 1),
        ("struct", "Circle", 3, 10),
        ("method", "Circle.area", 7, 9),
        ("interface", "Drawable", 12, 14),
        ("method", "Drawable.draw", 13, 13),
        ("extension", "Circle", 16, 20),
        ("method", "Circle.draw", 17, 19),
    ],
    "Parser.scala": [
        ("module", "Parser.scala", 1, 1),
        ("class", "Parser", 3, 6),
        ("method", "Parser.parse", 5, 5),
        ("object", "Parser", 8, 10),
        ("method", "Parser.apply", 9, 9),
        ("trait", "Show", 12, 14),
        ("method", "Show.show", 13, 13),
    ],
    "util.lua": [
        ("module", "util.lua", 1, 16),
        ("function", "M.split", 3, 10),
        ("function", "trim", 12, 14),
    ],
    "deploy.sh": [
        ("module", "deploy.sh", 1, 13),
        ("function", "retry", 4, 11),
    ],
    # `@doc` and `@spec` lead into their function, `@moduledoc` and `@timeout` stay the module's;
    # a function's clauses are one chunk (`count`), but not two arities (`matches?/2`, `/3`); a
    # protocol is an interface, its `defimpl` an impl for the type after `for:`.
    "router.ex": [
        ("namespace", "Web.Router", 1, 19),
        ("function", "Web.Router.add", 4, 8),
        ("function", "Web.Router.matches?", 10, 10),
        ("function", "Web.Router.matches?", 11, 11),
        ("function", "Web.Router.count", 13, 14),
        ("macro", "Web.Router.get", 16, 18),
        ("interface", "Web.Handler", 21, 23),
        ("method", "Web.Handler.handle", 22, 22),
        ("impl", "impl Web.Handler for Map", 25, 27),
        ("method", "Map.handle", 26, 26),
    ],
    # A function's haddock, type signature and every equation are one chunk; a type class is an
    # interface, an instance an impl. (The grammar puts the haddock above `data Queue` inside
    # the imports, so it stays in the module's chunk.)
    "Queue.hs": [
        ("module", "Queue.hs", 1, 5),
        ("type", "Queue", 6, 6),
        ("interface", "Container", 8, 9),
        ("impl", "impl Container for Queue", 11, 12),
        ("method", "Queue.size", 12, 12),
        ("function", "empty", 14, 16),
        ("function", "push", 18, 20),
        ("function", "pop", 22, 25),
    ],
    # A `const X = struct {...}` is the struct X; a `test` block stays in the module's chunk.
    "ring.zig": [
        ("module", "ring.zig", 1, 25),
        ("struct", "Ring", 3, 13),
        ("method", "Ring.push", 8, 12),
        ("enum", "Mode", 15, 15),
        ("function", "wrap", 17, 19),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_yields_the_expected_chunks(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    got = [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunk_file(name, data)]
    assert got == EXPECTED[name]


def test_every_language_has_a_fixture_or_a_parsing_test() -> None:
    covered = {languages.for_path(name).name for name in EXPECTED}  # type: ignore[union-attr]
    covered |= {"python", "javascript", "typescript", "tsx", "go"}  # tests/test_parsing.py
    assert covered == set(languages.registry())


def test_doc_comments_and_attributes_belong_to_the_definition() -> None:
    chunks = chunk_file("point.rs", (FIXTURES / "point.rs").read_bytes())
    point = next(c for c in chunks if c.symbol == "Point")
    assert point.text.startswith("/// A point on the plane.\n#[derive(Debug, Clone)]\npub struct Point")


@pytest.mark.parametrize(
    ("path", "language"),
    [("a/b.py", "python"), ("x.tsx", "tsx"), ("x.h", "c"), ("x.hpp", "cpp"), ("Rakefile", "ruby"), ("x.kts", "kotlin"),
     ("mix.exs", "elixir"), ("lib/a.ex", "elixir"), ("src/A/B.hs", "haskell"), ("build.zig", "zig")],
)
def test_language_by_path(path: str, language: str) -> None:
    assert languages.for_path(path).name == language  # type: ignore[union-attr]


CPP_HEADER = b"""#pragma once
namespace geo {
/** A point on the plane. */
class Point {
 public:
  /** Its distance from the origin. */
  double norm() const { return x_ * x_ + y_ * y_; }
 private:
  double x_, y_;
};
}
"""
C_HEADER = b"""#ifndef POINT_H
#define POINT_H
struct point { double x, y; };
#ifdef __cplusplus
extern "C" {
#endif
static inline double norm(struct point p) { return p.x * p.x + p.y * p.y; }
#endif
"""


def test_a_header_is_parsed_as_cpp_where_it_holds_what_c_has_not() -> None:
    """Most C++ libraries name their headers `.h`: parsed as C, a header of classes was one
    module chunk. A C header stays C, `extern "C"` guard and struct bodies included."""
    got = [(c.language, c.kind, c.symbol) for c in chunk_file("include/geo/point.h", CPP_HEADER)]
    assert ("cpp", "class", "geo::Point") in got and ("cpp", "method", "geo::Point::norm") in got
    assert [(c.language, c.symbol) for c in chunk_file("include/point.h", C_HEADER) if c.kind == "function"] == [
        ("c", "norm")]


@pytest.mark.parametrize(("line", "language"), [
    (b"#!/bin/sh", "bash"), (b"#!/usr/bin/env bash", "bash"), (b"#! /usr/bin/python3.11", "python"),
    (b"#!/usr/bin/env -S node --no-warnings", "javascript"), (b"#!/usr/bin/env ruby", "ruby"),
])
def test_a_script_without_an_extension_is_its_interpreters(line: bytes, language: str) -> None:
    assert languages.for_file("libexec/tool", line + b"\n").name == language  # type: ignore[union-attr]


def test_a_script_without_an_extension_gets_its_functions_not_line_windows() -> None:
    script = b"#!/usr/bin/env bash\n# Show the help of a command.\nprint_help() {\n  echo usage\n}\n\n" \
             b"function command_path {\n  command -v \"tool-$1\"\n}\n"
    assert [(c.kind, c.symbol) for c in chunk_file("libexec/tool-help", script)] == [
        ("function", "print_help"), ("function", "command_path")]
    assert {c.kind for c in chunk_file("libexec/notes", b"print_help() {\n  echo usage\n}\n")} == {"text"}
    assert {c.kind for c in chunk_file("bin/tool", b"#!/usr/bin/perl\nsub help { }\n")} == {"text"}


# Members a developer looks for like a method, which had no chunk of their own (their code was only
# in their class's outline) or the wrong name (issue 27's chunking review).
MEMBERS = {
    "Point.kt": (
        "class Point(val x: Int, val y: Int) {\n    val norm: Int\n        get() = x * x + y * y\n}\n\n"
        "fun <T> List<T>.secondOrNull(): T? = if (size > 1) this[1] else null\n\n"
        "val String.isBlankish: Boolean\n    get() = trim().isEmpty()\n",
        [("method", "Point.norm"), ("function", "(List).secondOrNull"), ("function", "(String).isBlankish")],
    ),
    # A nested class whose primary constructor is on the next line: the grammar read a secondary
    # constructor of the outer class, and the whole file was one parse error (kotlinpoet's Builders).
    "TypeSpec.kt": (
        "public class TypeSpec\nprivate constructor(builder: Builder) {\n  public val name: String = builder.name\n\n"
        "  public class Builder\n  internal constructor(internal val name: String) {\n"
        "    public fun build(): TypeSpec = TypeSpec(this)\n  }\n}\n",
        [("class", "TypeSpec"), ("class", "TypeSpec.Builder"), ("method", "TypeSpec.Builder.build")],
    ),
    "Cache.cs": (
        "public class Cache<TKey, TValue>\n{\n    public TValue this[TKey key] => Get(key);\n"
        "    public int Count { get; private set; }\n    public int Size => items.Count;\n"
        "    public string Name { get { return name; } set { name = value; } }\n"
        "    public static Cache operator +(Cache a, Cache b) => a.Merge(b);\n}\n",
        [("method", "Cache.this"), ("method", "Cache.Size"), ("method", "Cache.Name"), ("method", "Cache.+")],
    ),
    "Vec.swift": (
        "struct Vec {\n    var x: Double\n    var length: Double {\n        return x.magnitude\n    }\n"
        "    subscript(index: Int) -> Double {\n        return x\n    }\n"
        "    static func + (a: Vec, b: Vec) -> Vec {\n        return Vec(x: a.x + b.x)\n    }\n}\n",
        [("method", "Vec.length"), ("method", "Vec.subscript"), ("method", "Vec.+")],
    ),
    # An export macro between `class` and the name: the grammar read a function named `logger`.
    "logger.hpp": (
        "namespace spdlog {\nclass SPDLOG_API logger {\npublic:\n    void set_level(int lvl) {\n        level_ = lvl;\n"
        "    }\nprivate:\n    int level_;\n};\nclass ABSL_DLL ABSL_LOCKABLE mutex final {\n  void lock() {\n    spin();\n  }\n};\n}\n",
        [("class", "spdlog::logger"), ("method", "spdlog::logger::set_level"), ("class", "spdlog::mutex"),
         ("method", "spdlog::mutex::lock")],
    ),
    # Function macros the grammar cannot expand (spdlog, abseil, googletest): before or after the
    # return type, after the parameters, and alone as a statement; a `#define` of one stays as is.
    "thread_pool-inl.h": (
        "#define SPDLOG_INLINE inline\nnamespace spdlog {\nABSL_NAMESPACE_BEGIN\n"
        "SPDLOG_INLINE thread_pool::~thread_pool() {\n    SPDLOG_TRY {\n        join();\n    }\n    SPDLOG_CATCH_STD\n}\n\n"
        "void SPDLOG_INLINE thread_pool::post_log(int msg) {\n    post(msg);\n}\n\n"
        "GTEST_API_ std::string FormatName(int id) SPDLOG_NOEXCEPT {\n    return name(id);\n}\n"
        "ABSL_NAMESPACE_END\n}\n",
        [("function", "spdlog::thread_pool::~thread_pool"), ("function", "spdlog::thread_pool::post_log"),
         ("function", "spdlog::FormatName")],
    ),
    # Scala 3: a given instance's members, an extension's methods named by the type extended.
    "Codecs.scala": (
        "given pointOrdering: Ordering[Point] with\n  def compare(a: Point, b: Point): Int = a.x - b.x\n\n"
        "extension (p: Point)\n  def shifted(dx: Int): Point = p.copy(x = p.x + dx)\n",
        [("object", "pointOrdering"), ("method", "pointOrdering.compare"), ("method", "Point.shifted")],
    ),
    # An object literal's function-valued properties, as in JavaScript.
    "handlers.ts": (
        "export const handlers = {\n  render: function (node: Node) {\n    return String(node);\n  },\n"
        "  close: () => {\n    cleanup();\n  },\n};\n",
        [("function", "render"), ("function", "close")],
    ),
    # A context, a parenthesised type, a qualified class, an operator method.
    "Tree.hs": (
        "module Tree where\n\ninstance (Eq a, Show a) => Show (Tree a) where\n  show = showTree\n\n"
        "instance F.Foldable Tree where\n  foldr = foldrTree\n\ninstance Semigroup Doc where\n  (<>) = append\n",
        [("impl", "impl Show for Tree"), ("method", "Tree.show"), ("impl", "impl Foldable for Tree"),
         ("method", "Tree.foldr"), ("method", "Doc.<>")],
    ),
}


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_members_with_code_are_chunks_named_as_written(name: str) -> None:
    source, expected = MEMBERS[name]
    chunks = chunk_file(name, source.encode())
    got = [(c.kind, c.symbol) for c in chunks]
    assert [e for e in expected if e not in got] == []
    assert "Count" not in {c.symbol.split(".")[-1] for c in chunks}  # `{ get; set; }` is data, not code
    assert all(c.text in source for c in chunks if c.kind.is_named and not c.kind.elides_members)  # as written
    lines = source.split("\n")  # at the lines it was written on
    assert all(c.text == "\n".join(lines[c.start_line - 1 : c.end_line]) for c in chunks
               if c.start_line < c.end_line and c.kind not in ("module", "text") and not c.kind.elides_members)
