"""Reading a query: its terms, whether it is a name (and its qualified parts), whether it is
long (an issue, a traceback), and what it names outright: files, with the line a traceback or
a compiler points at. An issue pasted whole names the place to look more surely than any of
its words (issue 27: where the text names a file the fix changed, plain BM25 over files put it
first 78% of the time)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property

from .abbreviations import short_forms
from .kinds import names_path
from .lexical import STOPWORDS, code_terms, derivations, inflections, name_key

# Source files only: `docs/guide.md` or `setup.cfg` in a traceback is not the code at fault.
CODE_EXTENSIONS = frozenset(
    "py pyi pyx go rs js jsx mjs cjs ts tsx mts cts java kt kts scala sc rb php cs swift c h cc cpp cxx hpp hh hxx "
    "m mm lua sh bash zsh ex exs erl hs ml mli dart vue svelte zig clj cljs groovy pl pm r jl nim cr".split())
# `x/y.py:12`, `x/y.py:12:5`, `File "x/y.py", line 12`, `(Bar.java:12)`, `x/y.py#L12`.
FILE_MENTION = re.compile(
    r"(?P<path>(?:[A-Za-z]:)?[\w.@~+-]*(?:[/\\][\w.@~+-]+)*\.(?P<ext>[A-Za-z]{1,6}))"
    r"(?:\"?,\s+line\s+(?P<pyline>\d+)|:(?P<line>\d+)|#L(?P<anchor>\d+))?")
# A Python traceback lists its innermost frame last.
CALL_LAST = re.compile(r"most recent call last", re.IGNORECASE)
# A file in a repository host's web address, past its ref: GitHub's `/blob/<ref>/`, GitLab's `/-/blob/<ref>/`.
BLOB = re.compile(r"/(?:-/)?blob/[^/]+/(.+)$")
INTERROGATIVES = frozenset({"how", "where", "what", "which", "why", "when", "who"})
# Words a request opens with before its question word: `explain how ...`, `show me where ...`.
REQUESTS = frozenset("explain show tell find describe me us please can could would you".split())
# A word that opens a verb's object: `encode a code point`, `Return the ...` describe what one definition does.
DETERMINERS = frozenset("a an the this that these those its their each every all any some one no".split())
# A word with a qualifier inside, as a name is written (`List:remove`, `pkg.Type`, `Class#method`).
QUALIFIED_WORD = re.compile(r"\w(?:::|->|[.:#\\])\w")
# A word only code writes: snake_case or lowerCamelCase (`WebSocket` and `XMLHttpRequest` are also a product's).
IDENTIFIER = re.compile(r"\w_\w|^[a-z]+[A-Z]")
# Verbs that open a description of what one definition does (`Parse sql and return ...`, `check
# whether ...`): in the imperative, as doc comments and tasks write them, or a yes-no question's.
DESCRIPTION_VERBS = frozenset(
    "return check convert iterate get fold setup use update describe emit create add delete remove compute calculate "
    "make build find load save apply initialize init generate register resolve validate copy insert append ensure "
    "determine wrap visit walk replace split flush write read test parse does do is are can should will".split())
# A topic (`WebSocket client implementation`) is a short phrase; a description runs longer.
TOPIC_WORDS = 8
# A query's words as a reader counts them: `how-to` and `don't` are one word, not `how` and `to`.
WORDS = re.compile(r"\w[\w'-]*")
QUALIFIER = re.compile(r"::|->|#|\.|\\")
# A token that can only be code: camelCase, snake_case, a qualified name.
CODE_SHAPE = re.compile(r"[a-z0-9][A-Z]|[A-Z]{2}[a-z]|\w_\w|[.#]\w|::|->")
NAME = re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::|#|->|\\)[A-Za-z_$][\w$]*)*[?!]?")
PUNCTUATION = "`'\"()[]{},;:?!"
# A line long enough to say something (`return 0;` and `end` are everywhere), with code's punctuation.
CODE_LINE_MIN = 24
CODE_MARKS = re.compile(r"[(){}\[\]=;]")
TASK_ITEM = re.compile(r"^\s*[-*+]\s+\[[ xX]\]\s")  # a Markdown task list's item (`- [x] I have read ...`)
# A diff's, a quotation's or a list's marker before a line: a whole run of them is dropped, code's own too (`-1;`,
# `*ptr`), from the query's lines and the chunk's alike.
LINE_MARK = re.compile(r"^(?:[-+>*] ?)+")
NAME_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CODE_SPAN = re.compile(r"`([^`\n]+)`")  # inline code in Markdown (an issue's `STARTTIME`)

# A query with at least this many distinct terms (without function words) is long: an issue's
# title and body, a traceback. Developer questions have 3-12, a few one-line ones 20-26 (`How
# does the embedded app server work: picking a free port, booting ...`): on one line, a query is
# long from ONE_LINE_LONG_TERMS (an issue flattened into a tool's one-line argument). Every issue
# of benchmarks/issues.toml has lines.
LONG_QUERY_TERMS = 20
ONE_LINE_LONG_TERMS = 40


@dataclass(frozen=True)
class FileMention:
    """A file a query names, as written (relative or absolute), and the line it points at (0: none)."""

    path: str
    line: int = 0

    def matches(self, path: str) -> bool:
        """Whether an indexed path is this file (kinds.names_path)."""
        return names_path(self.path, path)


def issue_title(text: str) -> str:
    """A pasted issue's first line, its title (what is wrong, in a sentence); "" where the text
    is one line, or a traceback opens it (`Traceback (most recent call last):` names nothing)."""
    head = text.strip().split("\n", 1)[0].strip()
    return "" if head == text.strip() or CALL_LAST.search(head) else head


def file_mentions(text: str) -> tuple[FileMention, ...]:
    """Source files named in a query, each once, innermost frame first: a stack trace lists the
    frame that failed first, a Python traceback last ("most recent call last"); a file named
    twice keeps its innermost line. Of a web address, only a file a repository host shows
    (`github.com/o/r/blob/main/assert/assertions.go#L311`)."""
    named: list[tuple[str, int]] = []
    for m in FILE_MENTION.finditer(text):
        if m["ext"].lower() not in CODE_EXTENSIONS:
            continue
        path = m["path"].replace("\\", "/")
        if "://" in text[max(0, m.start() - 8) : m.start() + 3]:
            shown = BLOB.search(path)
            if shown is None:
                continue
            path = shown.group(1)
        path = path.lstrip("./")
        if "/" not in path and len(path.split(".")[0]) < 2:
            continue
        named.append((path, int(m["pyline"] or m["line"] or m["anchor"] or 0)))
    if CALL_LAST.search(text):
        named.reverse()
    found: dict[str, int] = {}
    for path, line in named:
        if not found.get(path):
            found[path] = line
    return tuple(FileMention(p, line) for p, line in found.items())


def code_line(line: str) -> str:
    """A line as a query's and a chunk's lines are compared (Query.code_lines,
    evidence.quoted): whitespace collapsed, then a leading run of `+`, `-`, `>` and `*` (a
    diff's, a quotation's or a list's marker, and code's own: both sides lose it) gone."""
    return LINE_MARK.sub("", " ".join(line.split()))


def name_parts(name: str) -> tuple[str, ...]:
    """A qualified name's parts: `Sinatra::Helpers`, `pkg.Type`, `Type::method`, `Class#method`,
    `a.b.c`, a Go receiver `(*Type).Method` -> its names in order."""
    return tuple(p for p in (part.strip("()*&<>[] ") for part in QUALIFIER.split(name)) if p)


@dataclass(frozen=True)
class Query:
    text: str
    terms: tuple[str, ...]  # code-aware terms without English function words
    name: str | None  # the name the query is (`LoadConfig`; `RateLimiter wait` is RateLimiter.wait)
    mentioned: tuple[str, ...]  # code-shaped words in it (`what calls parse_header?`)
    mentions: frozenset[str]  # its lowercase words, for the priors' exceptions
    files: tuple[FileMention, ...] = ()  # source files it names (a traceback's, `context.go:173`)
    # Each term's forms the index holds, the term first (`held`); () until the index is asked.
    forms: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Query:
        tokens = [t.strip(PUNCTUATION) for t in text.split()]
        tokens = [t for t in tokens if t]
        name_like = [t for t in tokens if NAME.fullmatch(t)]
        coded = tuple(dict.fromkeys(t for t in name_like if CODE_SHAPE.search(t)))
        is_name = 0 < len(tokens) <= 2 and len(name_like) == len(tokens) and (len(tokens) == 1 or bool(coded))
        terms = list(dict.fromkeys(code_terms(text).split()))
        terms = [t for t in terms if t not in STOPWORDS] or terms
        return cls(text, tuple(terms), ".".join(tokens) if is_name else None, coded,
                   frozenset(w.lower() for w in re.findall(r"\w+", text)), file_mentions(text))

    def inflected(self, short: bool = True, derived: bool = True) -> list[str]:
        """Every other form of its terms: what `held` asks the index about."""
        return [form for term in self.terms for form in _other_forms(term, short, derived)]

    def held(self, counts: dict[str, int], short: bool = True, derived: bool = True) -> Query:
        """This query with each term's forms that the index holds (`counts`: how many chunks
        hold each word), so `variables` finds `variable`, `parsing` `parse`, with `short`
        `environment` `env` and, with `derived`, `optimization` `optimizer`."""
        return replace(self, forms=tuple((t, *(f for f in _other_forms(t, short, derived) if counts.get(f, 0) > 0))
                                         for t in self.terms))

    @property
    def forms_by_term(self) -> dict[str, tuple[str, ...]]:
        """Each term's forms the index holds, itself first (none before `held`)."""
        return dict(zip(self.terms, self.forms, strict=True)) if self.forms else {}

    @property
    def is_name(self) -> bool:
        return self.name is not None

    @property
    def is_question(self) -> bool:
        """Asked as a question (`how does ... work`, `where is ... done`, also after a request:
        `explain how ...`, `show me where ...`): about a subsystem, whose answer spans files,
        rather than a definition described (`Return the ...`)."""
        words = [w.lower() for w in WORDS.findall(self.text)]
        while words and words[0] in REQUESTS:  # `explain how ...`, `show me where ...`, `can you find where`
            words.pop(0)
        return not self.is_name and not self.is_long and bool(words) and words[0] in INTERROGATIVES

    def answered_by_files(self, topics: bool = True) -> bool:
        """A question, or with `topics` a topic: what the files that implement it answer, rather
        than one definition."""
        return self.is_question or topics and self.is_topic

    @property
    def is_topic(self) -> bool:
        """A short phrase naming a feature or a subsystem (`WebSocket client implementation`,
        `XPath queries on parsed documents`), or one line outlining one by its parts (`pcp-htop
        user-defined meters: reading ini-style meter definition files ..., binding them to
        performance metrics, and showing ...`: LONG_QUERY_TERMS terms or more, not long on one
        line): asked like a question, answered by the file or files that implement it. Not a
        description of one definition, which opens with its verb (a third person's, `Returns
        the ...`, or one `DESCRIPTION_VERBS` holds) or has a determiner among its first words
        (`encode a code point`)."""
        if not self.terms or self.is_name or self.is_long or self.is_question or any(
                IDENTIFIER.search(w) for w in self.mentioned):
            return False  # it names a definition (`visit_For in the code generator`, `insertWith of Data.Map`)
        if QUALIFIED_WORD.search(self.text):
            return False  # `List:remove`, `Date.Format:parse`
        words = WORDS.findall(self.text)
        if not words or TOPIC_WORDS < len(words) and len(self.terms) < LONG_QUERY_TERMS:
            return False
        # A doc comment's sentence opens with its verb, capitalised (`Returns`, `Creates`; a topic
        # typed in lower case may open with a plural, `hooks for ...`), or with its subject (`The
        # user's home directory`, Go's `Name registers a new route`): then a determiner comes
        # among its first three words.
        first = words[0]
        third_person = first[0].isupper() and first.endswith("s") and not first.endswith(("ss", "us", "is"))
        verb = first.lower() in DESCRIPTION_VERBS or first.lower().removesuffix("s") in DESCRIPTION_VERBS
        return not (third_person or verb or any(w.lower() in DETERMINERS for w in words[:3]))

    def links_to(self, name: str) -> bool:
        """Whether the query writes a name as a doc comment's link to another definition
        (`[[os.Path.apply]]`, `[CodeBlock.Builder.indent]`, `{@link Foo#bar}`): a description
        pasted whole names what its function calls or resembles, not what it is."""
        return f"[{name}]" in self.text or f"{{@link {name}" in self.text

    @cached_property
    def is_long(self) -> bool:
        """An issue, a traceback, a pasted error: not a question or a name. Kept once read: the
        ranking asks it of every candidate, and an issue's text is long."""
        lines = "\n" in self.text.strip()
        return len(self.terms) >= (LONG_QUERY_TERMS if lines else ONE_LINE_LONG_TERMS)

    @property
    def parts(self) -> tuple[str, ...]:
        """A name query's qualified parts (`Sinatra::Helpers` -> Sinatra, Helpers)."""
        return name_parts(self.name) if self.name else ()

    def informative(self, counts: dict[str, int], total: int, n: int, coded_under: float = 0.0) -> list[str]:
        """Its `n` most telling terms that the index holds (what a long query's candidates are
        found by): the rarest, after the terms of its code (`coded_terms`) that fewer than
        `coded_under` of the `total` chunks hold. An issue's rarest words are its prose's (`configuring`,
        `reproduce`), held by a changelog; the names it quotes are what the code holds."""
        useful = (t for t in self.terms if counts.get(t, 0) > 0 and len(t) > 2 and not t.isdigit())
        coded = self.coded_terms if coded_under else frozenset()
        return sorted(useful, key=lambda t: (not (t in coded and counts[t] < coded_under * total), counts[t]))[:n]

    @cached_property
    def code_lines(self) -> frozenset[str]:
        """Its lines that read as a line of code (`evidence.quoted`; as `code_line` gives them):
        an issue's code block or diff, a traceback's source line, a line it quotes from the
        file at fault. Not a task list's item (`- [ ] I have searched the issues`)."""
        lines = (code_line(line) for line in self.text.splitlines() if not TASK_ITEM.match(line))
        return frozenset(line for line in lines if len(line) >= CODE_LINE_MIN and CODE_MARKS.search(line))

    @cached_property
    def coded_terms(self) -> frozenset[str]:
        """The terms of the code it quotes: words in backticks (`STARTTIME`, `Update interval`),
        and code-shaped words, whole, and in their parts where they are identifiers
        (`starttime_ctime`, `macOS`; `GitHub` is `github` alone, not `git` and `hub`)."""
        named = []
        for word in self.mentioned:
            for identifier in NAME_PART.findall(word):
                terms = code_terms(identifier).split()
                named.extend(terms if IDENTIFIER.search(identifier) else terms[:1])
        return frozenset([*code_terms(" ".join(CODE_SPAN.findall(self.text))).split(), *named])

    @property
    def name_keys(self) -> list[str]:
        """Keys of the query's name and of the code-shaped words in it (see lexical.name_key)."""
        return [k for k in dict.fromkeys(name_key(n) for n in (self.name or "", *self.mentioned)) if k]


def _other_forms(term: str, short: bool, derived: bool = True) -> tuple[str, ...]:
    """A term's inflections (lexical.inflections), with `derived` its family's (lexical.derivations)
    and, with `short`, the abbreviations of it and of its singular (`environments` -> env;
    abbreviations.py), each once."""
    forms = inflections(term)
    if derived:
        forms += derivations(term)
    if short:
        forms += tuple(a for word in (term, *forms) for a in short_forms(word))
    return tuple(f for f in dict.fromkeys(forms) if f != term)
