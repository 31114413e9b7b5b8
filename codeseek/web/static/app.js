// codeseek's web page: plain DOM, no framework, no build step.
//
// The page talks to its server (codeseek/web/server.py) with fetch on the same origin; the
// token travels in an HttpOnly cookie the server set when the page was first opened with
// ?token=, so this script never sees it. Code arrives highlighted (Pygments HTML, escaped on
// the server); everything else is put in the page as text, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const DEBOUNCE_MS = 150;
  const SNIPPET_LINES = 24;
  const K = 20;
  const state = {
    seq: 0,        // the number of the latest request sent
    shown: 0,      // the number of the request whose answer is on the page
    timer: null,
    hits: [],      // in the order they are shown (grouped by file)
    selected: -1,
    view: null,    // {kind: "find", query} or {kind: "similar", hit}
  };
  // For benchmarks/web_latency.py: each search's time from the debounce firing to its results
  // being on the page (fetch, then render and layout).
  window.codeseekTimings = [];

  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data;
    try {
      data = await response.json();
    } catch {
      data = { error: `the server answered HTTP ${response.status}` };
    }
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function codeLines(html, first, marked) {
    // Lines of server-highlighted HTML, numbered from `first`; `marked`: [start, end] to mark.
    const rows = html.map((line, i) => {
      const n = first + i;
      const hl = marked && n >= marked[0] && n <= marked[1] ? " hl" : "";
      return `<div class="line${hl}" data-line="${n}"><span class="ln">${n}</span><span class="lc">${line || " "}</span></div>`;
    });
    return rows.join("");
  }

  // -- searching ------------------------------------------------------------------------

  function filters() {
    const paths = $("path").value.split(/[\s,]+/).filter(Boolean);
    const out = {};
    if (paths.length) out.paths = paths;
    if ($("language").value) out.languages = [$("language").value];
    if ($("kind").value) out.kinds = [$("kind").value];
    return out;
  }

  function mode() {
    return document.querySelector('input[name="mode"]:checked').value;
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(rerun, DEBOUNCE_MS);
  }

  function rerun() {
    clearTimeout(state.timer);
    if (state.view && state.view.kind === "similar") similar(state.view.hit);
    else search();
  }

  async function search() {
    const query = $("q").value.trim();
    const seq = ++state.seq;
    if (!query) {
      state.shown = seq;
      showResults(null);
      return;
    }
    const began = performance.now();
    performance.mark(`codeseek-start-${seq}`);
    const body = { query, k: K, mode: mode(), explain: $("explain").checked, ...filters() };
    await answer(seq, began, api("POST", "/api/find", body), { kind: "find", query });
  }

  async function similar(hit) {
    const seq = ++state.seq;
    const where = `${hit.path}:${hit.start_line}`;
    await answer(seq, performance.now(), api("POST", "/api/similar", { where, k: K, ...filters() }),
      { kind: "similar", hit });
  }

  async function answer(seq, began, pending, view) {
    let data, failure;
    try {
      data = await pending;
    } catch (exc) {
      failure = exc;
    }
    if (seq <= state.shown) return; // a newer answer is on the page already: this one is stale
    state.shown = seq;
    if (failure) {
      showError(failure.message);
      return;
    }
    state.view = view;
    showResults(data);
    void $("results").offsetHeight; // layout now, so the time below includes it
    const ms = performance.now() - began;
    performance.mark(`codeseek-end-${seq}`);
    if (view.kind === "find") {
      performance.measure("codeseek-search", `codeseek-start-${seq}`, `codeseek-end-${seq}`);
      window.codeseekTimings.push({ seq, query: view.query, ms, server_ms: data.took_ms, hits: data.hits.length });
    }
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = false;
  }

  // -- results --------------------------------------------------------------------------

  function showResults(data) {
    $("error").hidden = true;
    const results = $("results");
    results.replaceChildren();
    $("summary").replaceChildren();
    state.hits = [];
    state.selected = -1;
    $("empty").hidden = data !== null;
    if (data === null) return;
    const groups = new Map();
    for (const hit of data.hits) {
      if (!groups.has(hit.path)) groups.set(hit.path, []);
      groups.get(hit.path).push(hit);
    }
    for (const [path, hits] of groups) {
      const section = el("section", "group");
      const head = el("div", "group-head");
      const slash = path.lastIndexOf("/");
      head.append(el("span", "dir", path.slice(0, slash + 1)), el("span", "name", path.slice(slash + 1)),
        el("span", "lang", hits[0].language));
      section.append(head);
      for (const hit of hits) {
        hit.index = state.hits.length;
        state.hits.push(hit);
        section.append(hitCard(hit, data.terms));
      }
      results.append(section);
    }
    summarize(data, groups.size);
  }

  function summarize(data, files) {
    const summary = $("summary");
    const view = state.view;
    if (view.kind === "similar") {
      summary.append(el("span", "", "similar to "), el("b", "", view.hit.symbol),
        el("span", "muted", ` ${view.hit.path}:${view.hit.start_line}`));
      const back = el("button", "action", "back to search");
      back.type = "button";
      back.addEventListener("click", () => { state.view = null; search(); });
      summary.append(" ", back);
    }
    const what = data.hits.length ? `${count(data.hits.length, "result")} in ${count(files, "file")}` : "no matches";
    summary.append(el("span", "muted", ` ${view.kind === "similar" ? "· " : ""}${what} · ${data.mode}${data.vectors ? ` (${data.vectors} vectors)` : ""} · ${Math.round(data.took_ms)} ms`));
    for (const note of data.notes || []) summary.append(el("div", "note", note));
  }

  function hitCard(hit, terms) {
    const card = el("article", "hit");
    card.dataset.index = hit.index;
    const head = el("div", "hit-head");
    const lines = hit.start_line === hit.end_line ? `L${hit.start_line}` : `L${hit.start_line}–${hit.end_line}`;
    head.append(el("span", "symbol", hit.symbol), el("span", "kind", hit.kind), el("span", "lines", lines),
      el("span", "score", hit.score.toFixed(3)), el("span", "spacer"));
    if (hit.editor && !/^\s*(javascript|data|vbscript):/i.test(hit.editor)) {
      const link = el("a", "action", "open in editor");
      link.href = hit.editor;
      head.append(link);
    }
    const more = el("button", "action similar", "similar");
    more.type = "button";
    more.title = "Code nearest in meaning to this one";
    more.addEventListener("click", (event) => { event.stopPropagation(); similar(hit); });
    head.append(more);
    card.append(head);
    if (hit.why) card.append(reasons(hit.why));
    const code = el("div", "code");
    code.innerHTML = codeLines(hit.html.slice(0, SNIPPET_LINES), hit.start_line, null);
    if (hit.html.length > SNIPPET_LINES) {
      code.append(el("div", "more", `⋯ ${hit.html.length - SNIPPET_LINES} more lines (Enter opens the file)`));
    }
    card.append(code);
    card.addEventListener("click", (event) => {
      if (event.target.closest("a, button")) return;
      select(hit.index);
      openFile(hit);
    });
    return card;
  }

  function bar(label, value, detail) {
    const row = el("div", "bar-row");
    const track = el("span", "bar");
    const fill = el("span", `fill ${label}`);
    fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
    track.append(fill);
    row.append(el("span", "bar-label", label), track, el("span", "bar-value", detail));
    return row;
  }

  function reasons(why) {
    // The ranking's reasons, drawn: meaning and words as bars, the rest as chips.
    const box = el("div", "why");
    const cosine = why.vectors === "both"
      ? ` · cosine ${why.cosine.toFixed(3)}, static ${why.static_cosine.toFixed(3)} at ${why.static_share}`
      : why.vectors === "static" ? ` · static cosine ${why.static_cosine.toFixed(3)}`
      : "cosine" in why ? ` · cosine ${why.cosine.toFixed(3)}` : " · no vector yet";
    box.append(bar("meaning", why.meaning, `${why.meaning.toFixed(3)}${cosine}`));
    const share = "words_share" in why ? ` at ${why.words_share}` : "";  // the words' share of the score
    const words = bar("words", why.words, `${why.words.toFixed(3)}${share}`);
    for (const term of why.matched || []) words.append(el("span", "term", term));
    box.append(words);
    const chips = el("div", "chips");
    if (why.name) chips.append(el("span", "chip name", `name: ${why.name}`));
    for (const [prior, factor] of Object.entries(why.priors || {})) {
      chips.append(el("span", "chip prior", `${prior} ×${factor}`));
    }
    for (const [bonus, value] of Object.entries(why.bonuses || {})) {
      chips.append(el("span", "chip bonus", `${bonus.replaceAll("_", " ")} +${value}`));
    }
    if ("coherence" in why) chips.append(el("span", "chip coherence", `same file +${why.coherence}`));
    if ("spread" in why) chips.append(el("span", "chip spread", `spread ×${why.spread}`));
    if (chips.childElementCount) box.append(chips);
    return box;
  }

  function select(index) {
    const cards = document.querySelectorAll(".hit");
    if (!cards.length) return;
    state.selected = Math.max(0, Math.min(cards.length - 1, index));
    cards.forEach((card, i) => card.classList.toggle("selected", i === state.selected));
    cards[state.selected].scrollIntoView({ block: "nearest" });
  }

  // -- the file view --------------------------------------------------------------------

  async function openFile(hit) {
    const query = state.view && state.view.kind === "find" ? state.view.query : "";
    const params = new URLSearchParams({ path: hit.path, start: hit.start_line, end: hit.end_line, q: query });
    let data;
    try {
      data = await api("GET", `/api/file?${params}`);
    } catch (exc) {
      showError(exc.message);
      return;
    }
    $("viewer-path").textContent = `${data.path}  ·  ${data.language}  ·  L${data.start}–${data.end}`;
    $("viewer-editor").href = data.editor;
    const code = $("viewer-code");
    code.innerHTML = codeLines(data.lines, 1, [data.start, data.end]);
    $("viewer").hidden = false;
    document.body.classList.add("viewing");
    leaveTyping(); // the keys now move and close, and do so again once the file view closes
    const first = code.querySelector(`[data-line="${data.start}"]`);
    if (first) first.scrollIntoView({ block: "center" });
  }

  function closeFile() {
    $("viewer").hidden = true;
    document.body.classList.remove("viewing");
  }

  function leaveTyping() {
    const active = document.activeElement;
    if (active && active.matches("input, select")) active.blur();
  }

  // -- keys -----------------------------------------------------------------------------

  function onKey(event) {
    const target = event.target;
    const typing = target.matches("input[type=text], input[type=search], select");
    const inBox = target === $("q");
    const viewing = !$("viewer").hidden;
    if (event.key === "Escape" && viewing) {
      closeFile();
      event.preventDefault();
    } else if (event.key === "Escape" && typing) {
      leaveTyping(); // a search box would clear itself: Esc leaves the box and keeps the query
      event.preventDefault();
    } else if (event.key === "/" && !typing) {
      closeFile();
      $("q").focus();
      $("q").select();
      event.preventDefault();
    } else if ((event.key === "ArrowDown" || (event.key === "j" && !typing)) && (inBox || !typing) && !viewing) {
      select(state.selected + 1);
      event.preventDefault();
    } else if ((event.key === "ArrowUp" || (event.key === "k" && !typing)) && (inBox || !typing) && !viewing) {
      select(state.selected - 1);
      event.preventDefault();
    } else if (event.key === "Enter" && (inBox || !(typing || target.closest("a, button"))) && state.hits.length) {
      if (state.selected < 0) select(0);
      openFile(state.hits[state.selected]);
      event.preventDefault();
    }
  }

  // -- the index's status ---------------------------------------------------------------

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
  }

  function count(n, noun) {
    // As the command line writes counts: "1 file", "2,294 files".
    return `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : "s"}`;
  }

  function showStatus(s) {
    const parts = [];
    parts.push(s.indexed_commit ? `at ${s.indexed_commit.slice(0, 10)}` : "no git commit");
    parts.push(count(s.files || 0, "file"), count(s.chunks || 0, "chunk"));
    if (!s.embedding) parts.push(`${(s.embedded || 0).toLocaleString()} with vectors`); // else the bar says
    if (s.pending) parts.push(`${count(s.pending, "changed file")} not indexed yet`);
    if (s.model) parts.push(s.model);
    if (s.static_model) parts.push(`static tier: ${(s.static_chunks || 0).toLocaleString()} chunks`);
    $("status-text").textContent = parts.join(" · ");
    const e = s.embedding;
    $("embedding").hidden = !e;
    if (!e) return;
    const bar = $("embed-progress");
    if (e.phase === "loading") {
      bar.removeAttribute("value"); // indeterminate
      $("embed-text").textContent = "loading the model…";
      return;
    }
    bar.max = Math.max(1, e.total);
    bar.value = e.done;
    const left = e.eta_s !== null ? ` · about ${duration(e.eta_s)} left` : "";
    $("embed-text").textContent = `embedding ${e.done.toLocaleString()} of ${e.total.toLocaleString()} · ${Math.round(e.rate)}/s${left}`;
  }

  async function pollStatus() {
    let next = 10000;
    try {
      const s = await api("GET", "/api/status");
      showStatus(s);
      if (s.embedding) next = 1000;
    } catch (exc) {
      $("status-text").textContent = `status: ${exc.message}`;
      next = 5000;
    }
    setTimeout(pollStatus, next);
  }

  // -- start ----------------------------------------------------------------------------

  async function start() {
    $("q").addEventListener("input", () => { state.view = null; schedule(); });
    for (const id of ["language", "kind", "explain"]) $(id).addEventListener("change", rerun);
    $("path").addEventListener("input", schedule);
    for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", rerun);
    $("viewer-close").addEventListener("click", closeFile);
    document.addEventListener("keydown", onKey);
    pollStatus();
    try {
      const meta = await api("GET", "/api/meta");
      document.title = `codeseek · ${meta.repository}`;
      $("repo").textContent = meta.repository;
      $("repo").title = meta.root;
      for (const [id, values] of [["language", meta.languages], ["kind", meta.kinds]]) {
        for (const value of values) $(id).append(new Option(value, value));
      }
    } catch (exc) {
      showError(exc.message);
    }
    $("q").focus();
  }

  start();
})();
