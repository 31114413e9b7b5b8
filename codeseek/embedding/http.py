"""Any OpenAI-compatible `/v1/embeddings` server: `vllm serve`, llama.cpp's server, Ollama,
text-embeddings-inference; or several of them (vLLM replicas, each on its own GPU) sharing one
first index. Standard library only, so the client adds no dependency.

With several servers, batches wait in one queue and each server takes the next one whenever
it has room (`concurrency` requests at a time), so a faster server takes more. A server that
fails has its batch put back for the others and takes no more; a batch's vectors are kept
once, from the one answer that delivered them.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import CodeseekError, EngineUnavailable, ModelMismatch
from .base import Embedder, ModelInfo, in_input_order, length_batches, normalise, query_prompt

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# A person waits for a query and for the first contact: one retry, not a minute of them.
INTERACTIVE_RETRIES = 1
# With other servers to take over, a failing one gets one retry before its batch moves on.
FAILOVER_RETRIES = 1
CHARS_PER_TOKEN = 3  # no tokenizer on the client: a conservative estimate for code


class Server:
    """One server: requests with retries (exponential backoff with jitter on 429, 5xx and
    dropped connections, honouring Retry-After), and a clear error naming its URL."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, retries: int, backoff: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/embeddings"
        self.headers = headers
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.embedded = 0  # texts this server has embedded for this engine
        self.alive = True

    def call(self, request: urllib.request.Request, retries: int | None = None) -> dict:
        url = request.full_url
        attempt = 0
        while True:
            wait = self.backoff * 2**attempt * (0.5 + random.random())
            last = attempt == (self.retries if retries is None else retries)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace").strip()
                if exc.code not in RETRY_STATUS:
                    raise CodeseekError(f"{url} answered HTTP {exc.code}: {detail or exc.reason}") from None
                if last:
                    raise EngineUnavailable(f"{url} answered HTTP {exc.code}: {detail or exc.reason}") from None
                wait = max(wait, _retry_after(exc.headers.get("Retry-After")))
            except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as exc:
                # HTTPException: the server died mid-answer (IncompleteRead, RemoteDisconnected).
                if last:
                    reason = getattr(exc, "reason", exc)
                    raise EngineUnavailable(f"cannot reach the embedding server at {url}: {reason}") from None
            except json.JSONDecodeError:
                raise CodeseekError(f"{url} did not answer with JSON: is it an embeddings server?") from None
            time.sleep(wait)
            attempt += 1

    def models(self) -> list[str]:
        """The models the server says it serves (`GET /models`); empty where it will not say."""
        try:
            body = self.call(urllib.request.Request(f"{self.base_url}/models", headers=self.headers),
                             INTERACTIVE_RETRIES)
            return [str(item["id"]) for item in body["data"]]
        except EngineUnavailable:
            raise
        except (CodeseekError, KeyError, TypeError):
            return []

    def post(self, texts: list[str], model: str, dim: int | None, retries: int | None = None) -> np.ndarray:
        payload: dict[str, object] = {"model": model, "input": texts, "encoding_format": "float"}
        if dim:
            payload["dimensions"] = dim
        request = urllib.request.Request(self.url, json.dumps(payload).encode(), headers=self.headers)
        body = self.call(request, retries)
        try:
            rows = sorted(body["data"], key=lambda item: item["index"])
            vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise CodeseekError(f"{self.url} answered without a list of embeddings") from None
        if len(vectors) != len(texts) or vectors.ndim != 2:
            raise CodeseekError(f"{self.url} returned {len(vectors)} embeddings for {len(texts)} inputs")
        if dim and vectors.shape[1] != dim:
            raise CodeseekError(f"{self.url} returned {vectors.shape[1]}-dimensional vectors, not the {dim} asked for")
        return vectors


class HttpEmbedder(Embedder):
    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str | None = None,
        *,
        dim: int | None = None,
        api_key_env: str | None = None,
        api_key: str | None = None,
        query_instruction: str | None = None,
        max_tokens: int = 8192,
        batch_tokens: int = 16384,
        batch_size: int = 64,
        concurrency: int = 4,
        timeout: float = 120.0,
        retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        # A request's own key where it carries one (a warm process uses none of its own).
        key = api_key if api_key is not None else os.environ.get(api_key_env or "CODESEEK_API_KEY")
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        self.servers = [Server(url, headers, timeout, retries, backoff) for url in urls]
        self.base_url = self.servers[0].base_url
        self.url = self.servers[0].url
        self.max_tokens = max_tokens
        self._batch_tokens = batch_tokens
        self._batch_size = batch_size
        self._concurrency = concurrency
        self.batch_hint = batch_size * concurrency * len(self.servers)  # enough for every request at once
        self.model = self._agreed_model(model)
        self._dim = dim
        self.query_prefix = query_prompt(self.model, query_instruction)
        # A known dimension is checked on every answer; an unknown one is learned from a probe.
        known = dim or self.servers[0].post(["dimension probe"], self.model, None, INTERACTIVE_RETRIES).shape[1]
        self.info = ModelInfo(self.model, known, "http", ",".join(s.base_url for s in self.servers))

    def _agreed_model(self, model: str | None) -> str:
        """The model every server serves: vectors of different models are never mixed."""
        for server in self.servers:
            served = server.models()
            if model is None:
                if not served:
                    raise CodeseekError(f"{server.base_url}/models lists no model; pass --model")
                model = served[0]
            elif served and model not in served:
                raise ModelMismatch(
                    f"the server at {server.base_url} serves {', '.join(served)}, not {model}: vectors of different "
                    "models are never mixed (pass --model to use another, with an index built by it)"
                )
        assert model is not None
        return model

    def shares(self) -> dict[str, int]:
        return {s.base_url: s.embedded for s in self.servers} if len(self.servers) > 1 else {}

    def _checked(self, vectors: np.ndarray, server: Server) -> np.ndarray:
        if hasattr(self, "info") and vectors.shape[1] != self.info.dim:
            raise CodeseekError(f"{server.url} changed dimension: {vectors.shape[1]}, not {self.info.dim}")
        return vectors

    def _embed(self, texts: list[str]) -> np.ndarray:
        limit = self.max_tokens * CHARS_PER_TOKEN
        texts = [text[:limit] for text in texts]  # right-truncate here: servers often keep the end instead
        batches = length_batches([len(t) // CHARS_PER_TOKEN + 1 for t in texts], max_items=self._batch_size,
                                 budget=self._batch_tokens)
        work = [[texts[i] for i in batch] for batch in batches]
        if len(self.servers) == 1:
            server = self.servers[0]

            def one(part: list[str]) -> np.ndarray:
                vectors = self._checked(server.post(part, self.model, self._dim), server)
                server.embedded += len(part)
                return vectors

            with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
                parts = list(pool.map(one, work))
        else:
            parts = Dispatch(self, work).run()
        return in_input_order(batches, parts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """From the first server that answers (the query's one request)."""
        failure: Exception | None = None
        for server in self.servers:
            try:
                vectors = server.post([self.query_prefix + t for t in texts], self.model, self._dim,
                                      INTERACTIVE_RETRIES)
                return normalise(self._checked(vectors, server), self.info.dim)
            except EngineUnavailable as exc:
                failure = exc
        assert failure is not None
        raise failure


class Dispatch:
    """Batches shared by several servers: each takes the next whenever it has room; a failed
    batch goes back to the queue for the others."""

    def __init__(self, embedder: HttpEmbedder, work: list[list[str]]) -> None:
        self.embedder = embedder
        self.work = work
        self.queue = deque(range(len(work)))
        self.results: dict[int, np.ndarray] = {}
        self.in_flight = 0
        self.failures: list[str] = []
        self.fatal: BaseException | None = None
        self.changed = threading.Condition()

    def run(self) -> list[np.ndarray]:
        servers = self.embedder.servers
        for server in servers:
            server.alive = True  # a server that failed before may be back
        threads = [threading.Thread(target=self._serve, args=(server,), daemon=True)
                   for server in servers for _ in range(self.embedder._concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.fatal is not None:
            raise self.fatal
        if len(self.results) < len(self.work):
            raise EngineUnavailable("every embedding server failed: " + "; ".join(self.failures[-len(servers):]))
        return [self.results[i] for i in range(len(self.work))]

    def _take(self, server: Server) -> int | None:
        with self.changed:
            while not self.queue and self.in_flight and server.alive and self.fatal is None:
                self.changed.wait()  # a batch in flight elsewhere may yet come back
            if not self.queue or not server.alive or self.fatal is not None:
                return None
            self.in_flight += 1
            return self.queue.popleft()

    def _serve(self, server: Server) -> None:
        embedder = self.embedder
        while (index := self._take(server)) is not None:
            part = self.work[index]
            vectors: np.ndarray | None = None
            try:
                vectors = embedder._checked(server.post(part, embedder.model, embedder._dim, FAILOVER_RETRIES), server)
            except EngineUnavailable as exc:
                self.failures.append(str(exc))
            except BaseException as exc:  # noqa: BLE001 - a bad request fails on every server: stop all
                self.fatal = exc
            with self.changed:
                self.in_flight -= 1
                if vectors is not None:
                    self.results[index] = vectors
                    server.embedded += len(part)
                else:
                    self.queue.appendleft(index)
                    server.alive = False
                self.changed.notify_all()


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value), 60.0) if value else 0.0
    except ValueError:
        return 0.0
