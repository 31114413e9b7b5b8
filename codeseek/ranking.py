"""How a query's candidates become the order a user sees. Every ranking signal lives here, in `Signals`, each with
the benchmark gain that justified it (benchmarks/README.md).

Candidates come from the dense index, from BM25 over code-aware terms and from the table of definition names;
whichever found it, each candidate is scored on the same two scales:

- meaning: its cosine to the query above the background (the cosine at the dense search's depth), as a share of
  the room above that background: a model whose vectors say little adds little (min-max scaling stretched it to
  0..1 and let it bury an exact lexical match).
- words: the idf-weighted share of the query's terms the chunk holds, a term in its name counting most. 0..1 for
  every query, so it needs no scaling either.

Then structure: a definition named like the query, definitions over module code and text, implementation over
tests and examples, files holding several good candidates; further results from a file already listed yield to
other files.

Issue 27 (developer questions, names, whole issues) took from MinishLab/semble's `ranking/` (its source only):
penalties for compatibility copies (`compat/`, `legacy/`), a boost for files whose name and folder hold the
question's words (`connect` finds `connection`), a boost to each file's top chunk by its file's summed score, a
saturation decay past a file's second result. Done differently: each is a named weight in `Signals` on the same
0..1 scales, off at its neutral value, measured as an ablation here (semble's are multiples of the best score
and fixed factors); a qualified name is resolved against tree-sitter's scopes and the file's folders
(`evidence.qualified_match`), not a regular expression; legacy copies also include vendored trees, a `v1/`
beside a `v4/` the index holds and definitions marked deprecated; semble's test, `__init__.py`, example and
`.d.ts` penalties were not taken (the test and auxiliary priors measured those). Not in semble: the primary
definition of a shared name and overload stubs (evidence.shape_of); long queries (their 30 most telling terms, the
code they quote first, a file or `file:line` a traceback names, a file-level pass, the lines they paste, prose and
tests lowered, their first line read twice); the
file-level signals and saturation for questions and topics only (`how does ... work`, `WebSocket client
implementation`: on every sentence saturation cost the docs set 0.016 NDCG, the file-level signals 0.003-0.006).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import evidence, filewise
from .candidates import Candidate
from .kinds import Kind, Role, legacy_part, newest_versions, role_of_path
from .lexical import name_key
from .meanings import Meanings
from .protocol import Mode
from .query import QUALIFIER, FileMention, Query, name_parts
from .wordscale import QueryWords

QUOTED_FULL = 2  # lines of a chunk a long query quotes for the whole of Signals.quoted
WORDS_RAMP_FROM = 10  # a sentence of up to this many terms keeps its shares (Signals.words_per_term, static_per_term)
TEST_WORDS = frozenset({"test", "tests", "testing", "spec", "fixture", "mock", "assert"})
AUX_WORDS = frozenset({"example", "examples", "benchmark", "benchmarks", "bench", "demo", "docs", "documentation"})
PROSE_WORDS = frozenset({"readme", "docs", "documentation", "doc", "changelog", "guide", "markdown"})
LEGACY_WORDS = frozenset("legacy deprecated compat compatibility old vendor vendored backport shaded".split())


@dataclass(frozen=True)
class Signals:
    """Every weight the ranking uses. Defaults are the benchmarked ones; the figures are
    benchmarks/retrieval.py's (MRR@10 over all 1,904 queries unless said, 0.743 with all)."""

    # Share of the words scale (the rest is meaning) for a question and for a name.
    # 0.45/0.7 against 0.2/0.4: 0.728; against 0.7/0.9: 0.722.
    words_sentence: float = 0.45
    # Added to a sentence's words share per term past WORDS_RAMP_FROM, up to words_long: one vector holds a query's many
    # parts less well than its words do (session 18, 0.55 for all: questions of 11-15 terms .809 -> .819, of 16+ .760 ->
    # .772; but docs of up to 6 terms .651 -> .636, questions of 7-10 .900 -> .899). 0.045 against 0: the 7 projects
    # measured first .871 -> .887 (architecture .726 -> .766), the 27 others .902 both, docs .624 -> .623; 0.03 / 0.06:
    # .880 / .888 on the 7, docs .623 / .622.
    words_per_term: float = 0.045
    words_name: float = 0.7
    # A term found in the chunk's name counts fully; in its path or body, this much. Path 0.4 or 0.8: 0.744 (no matter).
    # Body 0.3: 0.745 but questions NDCG 0.598 -> 0.575; 0.7: 0.731.
    path_weight: float = 0.6
    body_weight: float = 0.5
    # Added for a definition named like a name query: exactly, in another spelling, or starting with it (a partial
    # name). Without: 0.694, exact names at rank 1 0.906 -> 1.0. (A bonus for a definition a sentence names, `what calls
    # parse_header`, did not earn its place: 0.737 with it, 0.740 without; the words scale already counts a name fully.)
    exact_name: float = 1.0
    variant_name: float = 0.8
    prefix_name: float = 0.25
    # Factors for what is not a definition (without: docs 0.539, questions NDCG 0.594, from 0.542 and 0.597), and for
    # what is not the implementation (without: 0.731, docs 0.515, questions NDCG 0.563).
    module: float = 0.55
    text: float = 0.45
    test: float = 0.55
    auxiliary: float = 0.7
    # A further factor on those three (text, test, auxiliary) for a sentence, not a name: a whole repository's
    # tests, docs, samples and benchmarks hold a question's words as often as its code does. Session 13, the
    # questions asked of whole releases (retrieval.py --whole: tests, docs, changelogs, samples): 0.75 against 1:
    # 0.900 -> 0.905 (architecture 0.807 -> 0.819, C# 0.490 -> 0.530, no language lower); of the code's folders
    # 0.909 -> 0.911; docs 0.611 both (Kotlin docs and identifiers 0.735 -> 0.725), issues MRR 0.655 -> 0.656. On
    # names too it cost identifier partials 0.837 -> 0.827: sentences only.
    sentence_roles: float = 0.75
    # Added per good candidate of the same file (its best two), in base-score units. Without: questions NDCG 0.581.
    coherence: float = 0.08
    # A result's score is multiplied by this for each result already listed from its file. 1 (none): 0.592; 0.75: 0.568.
    spread: float = 0.9
    # From this many chunks, word candidates hold every query term first (then two, one), not BM25 over any at once: at
    # 954k chunks lexical p50 139 -> 14 ms, p99 1.3 s -> 82 ms, 20 kernel questions 0.750 -> 0.693; below, any at once:
    # the stdlib's 74k chunks docs words 0.301 -> 0.317 (p50 23 ms both), 30 projects equal (session 17).
    all_words_from: float = 250_000
    # The static tier: static_tier 0 never reads it; static_only 1 reads nothing else; static_blend: the static meaning's
    # share for a chunk with both vectors (0.2 against 0.1, session 11: questions .907 -> .911, docs .623 -> .624; 0.3:
    # JavaScript -.014); static_asked: the same for a question or topic (session 17: 0.4 against 0.2, questions tuned .896
    # -> .899, held aside .905 -> .909, 3 projects measured before it was tried .847 -> .860; docs equal; 0.4 for every
    # sentence: docs .603 -> .599); words_static: words_sentence for a first search (0.55: questions .893 -> .902).
    static_tier: float = 1.0
    static_only: float = 0.0
    static_blend: float = 0.2
    static_asked: float = 0.4
    # Added to either share per term of a sentence past WORDS_RAMP_FROM, up to all its meaning: a bag of tokens holds a
    # query of many parts better than one transformer vector does (as words_per_term). Session 18, with words_per_term:
    # 0.03 against 0: the 7 projects measured first .887 -> .893 (architecture .766 -> .791), the 27 others .903 both,
    # held aside .893 -> .894, docs .624 -> .625; 0.02 / 0.04 (at most 0.6): .891 / .892 on the 7, docs .625 / .624.
    static_per_term: float = 0.03
    words_static: float = 0.55

    # -- issue 27: developer questions, names and long queries. Each is off at its neutral value (a factor of 1, a
    # bonus of 0); figures: benchmarks/README.md ("Developer questions, names and whole issues"), words only, questions
    # file-level NDCG@10 of the tuned part (0.867 with all, 0.855 with none), issues MRR (0.626 with all, 0.473 none).
    # A factor for a legacy or compatibility copy (kinds.legacy_part: deprecated/, compat/, vendor/, v1/ beside v4/),
    # unless asked for. Tuned, words/vectors: 3 added .872/.913 (off .864/.883); all 18 .870/.921 (off .866/.912).
    legacy: float = 0.5
    # 1: v1/ is legacy beside a v2/ the index holds (index.Versions; 0: a candidate's). All 18: .868/.920 -> .870/.921
    legacy_trees: float = 1.0
    # A factor for a deprecated definition (evidence.deprecated) another file defines unmarked. All 18: vectors +.001
    deprecated: float = 0.5
    # Added for a definition whose qualifiers (`Sinatra::` in `Sinatra::Helpers`, `pkg.` in `pkg.Type`) are its scopes
    # or its file's folders; its last part must then match in case. 1.000 with or without it here and on the 3 added
    # projects (words find them); its test shows the order it fixes (`Sinatra::Helpers` before `helpers`). Session 18:
    # an inner scope's namesake is none (`Capybara::DSL#using_session` for `Capybara.using_session`, evidence.py):
    # name-qualified questions .991 -> 1.000, every other case equal.
    qualified: float = 0.5
    # Added, for a name query, to the primary definition of a name several define: the interface, trait, protocol or
    # abstract class before its implementations. Without (the run with file-name terms on every sentence): tuned 0.873
    # -> 0.871, name-multi 0.959 -> 0.948; held aside 0.871 -> 0.877. With every vector in: name-multi tuned 0.930 ->
    # 0.918 without, held aside 0.876 -> 0.913; issues MRR 0.665 -> 0.642. 3 added projects (rand's traits): tuned 0.869
    # -> 0.872 words only (architecture 0.844 -> 0.864), none with vectors.
    primary: float = 0.2
    # A factor for an overload stub or a declaration without a body (`@overload`, body `...`, a C prototype, a `.pyi`
    # declaration) that shares its name with a definition. 3 added projects (attrs' stubs): tuned 0.855 -> 0.872 words
    # only, 0.889 -> 0.913 with vectors.
    stub: float = 0.5
    # Added, for a question, in proportion to the idf share of its terms in the file's name and folder (`connect.c`,
    # `client_ws.py`). 0.3 against 0.15: questions NDCG (tuned) 0.874 -> 0.879 with file_top 0.2. For every sentence it
    # lowered Go and Java (docs and identifier sets, 0.003-0.006 NDCG), so questions only. Without: 0.867 -> 0.862,
    # architecture 0.802 -> 0.778.
    file_name: float = 0.3
    # Added, for a question, to each file's best candidate: the file's summed base score over the best file's, times the
    # best score, times this (how many of its definitions answer). 0.2 against 0.1: architecture NDCG (tuned) 0.797 ->
    # 0.802; for every sentence it cost the docs set 0.004, so questions only. Without: 0.873 -> 0.869, architecture
    # 0.802 -> 0.787. With every vector in it no longer gains on the tuned part (0.920 with, 0.921 without; held aside
    # 0.896 against 0.887): kept for the words-only first minute.
    file_top: float = 0.2
    # Added, for a sentence, where a qualified word in it (`insertWith of the value-strict Data.Map`, `apply of os.walk`,
    # `NodeTraversor.traverse, the depth-first walk`) names the definition (evidence.qualified_match), half where the
    # definition lies inside what it names (evidence.in_scope: its folders, file or scopes). Session 12, 26 projects:
    # questions 0.908 -> 0.909 (tuned 0.913 both; held aside 0.888 -> 0.897, name-multi 0.908 -> 0.945: designed after
    # reading one of them), 0.1 / 0.3: 0.895 / 0.898 held aside; docs 0.611 -> 0.610 (a description's `Same as
    # attr.asdict` names another definition), identifiers equal. Not for a long query: issues MRR 0.653 -> 0.637 with it
    # (a traceback's and an issue's dotted names are everywhere in it). Nor for a doc link (`[[os.Path.apply]]`,
    # `[CodeBlock.Builder.indent]`): with them Scala docs and identifiers 0.815 -> 0.809, Kotlin 0.735 -> 0.731.
    scope: float = 0.2
    # For a question (`how does ... work`): each result of a file past the second is multiplied by this as well as by
    # `spread` (distinct files before a fifth chunk of one). Without: architecture 0.802 -> 0.786; on every sentence it
    # cost the docs set 0.016.
    saturation: float = 0.7
    # 1: a topic (query.is_topic: a short phrase such as `WebSocket client implementation`) is asked like a question,
    # with `file_name`, `file_top` and `saturation`; 0: like a description of one definition. Session 15, 652
    # questions (66 new phrases among them): all 0.894 -> 0.896 NDCG@10 (held aside 0.893 -> 0.898), phrases 0.860 ->
    # 0.867, the 66 0.763 -> 0.793 (their architecture 0.677 -> 0.719); whole releases 0.889 -> 0.892 (the 66 0.766 ->
    # 0.795); docs MRR 0.610 -> 0.609, identifiers equal. For every short sentence (no verb test): docs 0.610 -> 0.606.
    topic: float = 1.0
    # Long queries (an issue, a traceback): candidates by this many most informative terms (0: every term); a named
    # file's chunks added, bonuses for them and its line. Issues MRR: all terms .616, 12 .523, 20 .55, 30 .626, 50 .604.
    long_terms: float = 30
    # Of those, the terms of its code (in backticks, or code-shaped: `STARTTIME`, `starttime_ctime`) come first where
    # fewer than this share of the chunks hold them (0: the rarest alone); an issue's rarest words are its prose's,
    # which only docs and changelogs hold. Session 19, 142 issues: MRR 0.746 -> 0.751 (0.03 / 0.2: 0.748 / 0.744), the
    # 23 of four projects measured first 0.595 -> 0.624 (htop 0.444 -> 0.592). A module's factor of 0.75 or 1 for a
    # long query (a file of registrations is all module code): 0.745 / 0.746. Final code (R2): 0.753 -> 0.759.
    long_coded: float = 0.05
    # Added, for a long query, to a chunk with lines it quotes (evidence.quoted, all of it from QUOTED_FULL lines): a
    # function's own line pasted into an issue (`static inline int RichString_writeFromWide(...) {`) points at it, even
    # where a neighbour holds more of the issue's words. Session 19, 142 issues: MRR 0.751 -> 0.758, first file right
    # 0.641 -> 0.655 (htop #1373 and kramdown #514 0.5 -> 1.0, none lower); 0.2 / 0.4: 0.757 (jinja #668 0.5 -> 0.33).
    # Final code (R2): 0.752 -> 0.759.
    quoted: float = 0.1
    # Added, for a long query, times its file's share of the query's informative terms (a file-level pass over them,
    # search.py; 0: none). Without: MRR 0.630 but the first file right 0.455 -> 0.432. Session 10, 74 issues (the 44 of
    # before and 30 added, not tuned on before): 0.3 -> 0.5, `long_prose` 0.5 -> 0.3 and `words_long` 0.45 -> 0.75
    # together: MRR 0.619 -> 0.655 (the 44: 0.593 -> 0.633; the 30: 0.659 -> 0.687), first right 0.432 -> 0.486; each
    # alone +0.009 to +0.013 (benchmarks/README.md, "Whole issues, session 10").
    file_pass: float = 0.5
    # Added to the chunks of a file a query names, more to the definition holding its line. Without: MRR 0.626 -> 0.603.
    mentioned_file: float = 0.4
    mentioned_line: float = 0.3
    # Of the files a query names that the index holds, innermost frame first (query.file_mentions: a stack trace's
    # first, a Python traceback's last), each gets this much of the bonuses of the one before: the frame that failed is
    # where the fix most often is, its callers' files are named too. Session 14, 101 issues, the 42 whose text names a
    # fixed file: MRR 0.825 -> 0.952, first file right 0.667 -> 0.905 (the 15 of before 0.822 -> 0.900, the 27
    # gathered for it 0.827 -> 0.981), 0.3 and 0.7 the same; the 59 naming none equal (0.631).
    mentioned_order: float = 0.5
    # (A bonus for a definition a long query names, a traceback's function or exception type: 0.620 -> 0.606 with 0.2.)
    # Further factor, for a long query, on text, tests and auxiliary code (an issue's words are all over its docs,
    # changelog and tests). Without (0.5 then): issues MRR 0.626 -> 0.561; 0.2 / 0.4: 0.656 / 0.652.
    long_prose: float = 0.3
    # A long query's vector: its text's plus this times its title's (first line's), each normalised. 101 issues: MRR
    # 0.767 -> 0.772, first file right 0.653 -> 0.663, 1: 0.771; questions, docs, identifiers equal.
    long_title: float = 0.5
    # words_sentence for a long query, whose vector reads only its first 128 tokens: 0.6 / 0.9: 0.636 / 0.645.
    words_long: float = 0.75
    # A query's term found in another form (lexical.inflections: `variables` as `variable`), as a share of the term (the
    # form's idf over the term's, at most 1: wordscale.py); 0: as written only. Questions tuned 0.921 -> 0.932 (held aside
    # .916 -> .908), docs 0.640 both, first search .508 -> .519; at 1 regardless of idf words-only architecture -.030.
    inflection: float = 1.0
    # 1: the forms include code's abbreviations (abbreviations.py). Docs 0.640 -> 0.642, first search 0.519 -> 0.530.
    abbreviation: float = 1.0
    # 1: the forms include the term's family (lexical.derivations: `optimization` finds `optimizer`), for a query that is
    # not long. Session 15, 652 questions: 0.896 -> 0.897 (architecture .809 -> .813); words only .849 -> .854 (held
    # aside .859 -> .876); first search .879 -> .881; docs and identifiers within 0.001.
    derivation: float = 1.0


DEFAULT = Signals()


def rank(query: Query, candidates: list[Candidate], counts: dict[str, int], total: int, floor: float | None,
         mode: Mode, limit: int, signals: Signals = DEFAULT, files: dict[str, float] | None = None,
         static_floor: float | None = None, versions: dict[str, int] | None = None) -> list[Candidate]:
    """Candidates best first (the first `limit` spread over files), each with its score and the
    reasons for it. `files`: a long query's file-level word shares (search.py's file pass);
    `versions`: the index's version trees (index.Versions; None: those of the candidates)."""
    words = QueryWords.of(query, counts, total, signals.inflection)
    asked = query.answered_by_files(bool(signals.topic))
    if mode == Mode.SEMANTIC:
        words_share = 0.0
    elif mode == Mode.LEXICAL:
        words_share = 1.0
    else:
        static_alone = floor is None and static_floor is not None
        words_share = (signals.words_name if query.is_name else signals.words_long if query.is_long
                       else min(signals.words_long, (signals.words_static if static_alone else signals.words_sentence)
                                + _ramp(query, signals.words_per_term)))
    newest = versions if versions is not None else newest_versions(c.path for c in candidates)
    implemented = {name_key(c.symbol) for c in candidates if c.kind.is_named and c.shape != "stub"}
    current = {(evidence.definition_key(c.symbol), c.path) for c in candidates if c.kind.is_named and not c.deprecated}
    named = {name_key(n) for n in query.mentioned}
    scoped = ([name_parts(n) for n in query.mentioned if QUALIFIER.search(n) and not query.links_to(n)]
              if not (query.is_name or query.is_long) else [])
    file_shares: dict[str, float] = {}
    held = [m for m in query.files if any(m.matches(c.path) for c in candidates)]  # the named files indexed
    meanings, share = Meanings.of(candidates, floor, static_floor), static_share(query, signals)
    for c in candidates:
        c.matched, c.factors, c.name_match, c.bonuses = [], {}, "", {}  # derived here, afresh
        c.meaning, c.meaning_from, c.static_share, c.words_share = *meanings.of_candidate(c, share), share, words_share
        c.words, c.matched = words.share(c.terms, signals.path_weight, signals.body_weight)
        c.base = (1.0 - words_share) * c.meaning + words_share * c.words
        if mode != Mode.SEMANTIC:
            c.base += _name_bonus(c, query, signals)
        if c.shape == "primary" and (c.name_match not in ("", "prefix") or c.kind.is_named and
                                     not query.is_name and name_key(c.symbol) in named):
            _bonus(c, "primary", signals.primary)
        _mention_bonuses(c, signals, held)
        if scoped and signals.scope:
            _bonus(c, "scope", signals.scope * max(_scope_share(c, parts) for parts in scoped))
        if asked and signals.file_name:
            if c.path not in file_shares:
                file_shares[c.path] = evidence.file_name_share(c.path, words.weights, words.total)
            _bonus(c, "file_name", signals.file_name * file_shares[c.path])
        if query.is_long and files:
            _bonus(c, "file_words", signals.file_pass * files.get(c.path, 0.0))
        if c.quoted and signals.quoted:
            _bonus(c, "quoted", signals.quoted * min(1.0, c.quoted / QUOTED_FULL))
        _apply_priors(c, query, signals)
        _apply_issue_priors(c, query, signals, newest, implemented, current)
        for factor in c.factors.values():
            c.base *= factor
    filewise.add_coherence(candidates, signals.coherence)
    if asked:
        filewise.add_file_top(candidates, signals.file_top)
    return filewise.spread(candidates, signals.spread, limit, signals.saturation if asked else 1.0)


def static_share(query: Query, signals: Signals) -> float:
    """The static tier's share of a chunk's meaning where it has both vectors."""
    share = signals.static_asked if query.answered_by_files(bool(signals.topic)) else signals.static_blend
    return min(1.0, share + _ramp(query, signals.static_per_term))


def _ramp(query: Query, per_term: float) -> float:
    """What a sentence's length adds to a share: `per_term` for each term past WORDS_RAMP_FROM. A
    name's and a long query's shares are their own (words_name, words_long)."""
    return 0.0 if query.is_name or query.is_long else per_term * max(0, len(query.terms) - WORDS_RAMP_FROM)


def _bonus(c: Candidate, name: str, value: float) -> None:
    if value:
        c.bonuses[name] = value
        c.base += value


def _name_bonus(c: Candidate, query: Query, signals: Signals) -> float:
    name = query.name
    if not c.kind.is_named or name is None:  # a sentence's code-shaped words find
        return 0.0  # candidates, but add nothing
    if signals.qualified and len(query.parts) > 1:
        c.name_match = evidence.qualified_match(c.symbol, c.path, query.parts)
        if c.name_match == "qualified":
            c.bonuses["qualified"] = signals.qualified
        return {"qualified": signals.exact_name + signals.qualified, "variant": signals.variant_name,
                "prefix": signals.prefix_name}.get(c.name_match, 0.0)
    own, wanted = name_key(c.symbol), name_key(name)
    if c.symbol == name or c.symbol.endswith(("." + name, "::" + name, ")." + name)):
        c.name_match = "exact"
        return signals.exact_name
    if own == wanted:
        c.name_match = "variant"
        return signals.variant_name
    if len(wanted) >= 4 and own.startswith(wanted):
        c.name_match = "prefix"
        return signals.prefix_name
    return 0.0


def _scope_share(c: Candidate, parts: tuple[str, ...]) -> float:
    if c.kind.is_named and evidence.qualified_match(c.symbol, c.path, parts) == "qualified":
        return 1.0
    return 0.5 if evidence.in_scope(c.symbol, c.path, parts) else 0.0


def _mention_bonuses(c: Candidate, signals: Signals, held: list[FileMention]) -> None:
    """A file the query names, and the definition holding the line it points at; of the named
    files the index holds (`held`, innermost frame first), the innermost's most (`mentioned_order`)."""
    for order, mention in enumerate(held):
        if mention.matches(c.path):
            share = signals.mentioned_order**order
            _bonus(c, "mentioned_file", signals.mentioned_file * share)
            if mention.line and c.start_line <= mention.line <= c.end_line and c.kind.is_named:
                _bonus(c, "mentioned_line", signals.mentioned_line * share)
            break


def _apply_priors(c: Candidate, query: Query, signals: Signals) -> None:
    further = 1.0 if query.is_name else signals.sentence_roles
    if c.kind == Kind.MODULE:
        c.factors["module"] = signals.module
    elif c.kind == Kind.TEXT and not query.mentions & PROSE_WORDS:
        c.factors["text"] = signals.text * further
    where = role_of_path(c.path, c.symbol)
    if where == Role.TEST and not query.mentions & TEST_WORDS:
        c.factors["test"] = signals.test * further
    elif where == Role.AUXILIARY and not query.mentions & AUX_WORDS:
        c.factors["auxiliary"] = signals.auxiliary * further


def _apply_issue_priors(c: Candidate, query: Query, signals: Signals, newest: dict[str, int],
                        implemented: set[str], current: set[tuple[str, str]]) -> None:
    """Issue 27's factors: legacy copies (a deprecated definition of a type's name another file
    defines too), stubs of an implemented name, and a long query's prose and tests (whose own
    words would exempt them: an issue says `test` and `docs` in passing)."""
    part, asks_legacy = legacy_part(c.path, newest), bool(query.mentions & LEGACY_WORDS)
    if part and not asks_legacy and part.lower() not in query.mentions:
        c.factors["legacy"] = signals.legacy
    elif c.deprecated and not asks_legacy and any(key == evidence.definition_key(c.symbol) and path != c.path
                                                  for key, path in current):
        c.factors["deprecated"] = signals.deprecated
    if c.shape == "stub" and name_key(c.symbol) in implemented:
        c.factors["stub"] = signals.stub
    if query.is_long and (c.kind == Kind.TEXT or role_of_path(c.path, c.symbol) != Role.IMPLEMENTATION):
        c.factors["long_prose"] = signals.long_prose
    c.factors = {name: factor for name, factor in c.factors.items() if factor != 1.0}  # one off says nothing
