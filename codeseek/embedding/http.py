"""Any OpenAI-compatible `/v1/embeddings` server: `vllm serve`, llama.cpp's server, Ollama,
text-embeddings-inference. Standard library only, so the client adds no dependency."""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import CodeseekError, EngineUnavailable, ModelMismatch
from .base import Embedder, ModelInfo, in_input_order, length_batches, normalise, query_prompt

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# A person waits for a query and for the first contact: one retry, not a minute of them.
INTERACTIVE_RETRIES = 1
CHARS_PER_TOKEN = 3  # no tokenizer on the client: a conservative estimate for code


class HttpEmbedder(Embedder):
    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        dim: int | None = None,
        api_key_env: str | None = None,
        query_instruction: str | None = None,
        max_tokens: int = 8192,
        batch_tokens: int = 16384,
        batch_size: int = 64,
        concurrency: int = 4,
        timeout: float = 120.0,
        retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/embeddings"
        key = os.environ.get(api_key_env or "CODESEEK_API_KEY")
        self._headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        self.max_tokens = max_tokens
        self._batch_tokens = batch_tokens
        self._batch_size = batch_size
        self._concurrency = concurrency
        self.batch_hint = batch_size * concurrency  # enough for every concurrent request
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        served = self._served_models()
        if model is None:
            if not served:
                raise CodeseekError(f"{self.base_url}/models lists no model; pass --model")
            model = served[0]
        elif served and model not in served:
            raise ModelMismatch(
                f"the server at {self.base_url} serves {', '.join(served)}, not {model}: vectors of different "
                "models are never mixed (pass --model to use another, with an index built by it)"
            )
        self.model = model
        self._dim = dim
        self.query_prefix = query_prompt(self.model, query_instruction)
        # A known dimension is checked on every answer; an unknown one is learned from a probe.
        known = dim or self._post(["dimension probe"], INTERACTIVE_RETRIES).shape[1]
        self.info = ModelInfo(self.model, known, "http", self.base_url)

    def _served_models(self) -> list[str]:
        """The models the server says it serves (`GET /models`); empty where it will not say."""
        try:
            body = self._call(urllib.request.Request(f"{self.base_url}/models", headers=self._headers),
                              INTERACTIVE_RETRIES)
            return [str(item["id"]) for item in body["data"]]
        except EngineUnavailable:
            raise
        except (CodeseekError, KeyError, TypeError):
            return []

    def _call(self, request: urllib.request.Request, retries: int | None = None) -> dict:
        """One request with retries: exponential backoff with jitter on 429, 5xx and dropped
        connections (honouring Retry-After), a clear error naming the URL after the last."""
        url = request.full_url
        attempt = 0
        while True:
            wait = self._backoff * 2**attempt * (0.5 + random.random())
            last = attempt == (self._retries if retries is None else retries)
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace").strip()
                if exc.code not in RETRY_STATUS or last:
                    raise CodeseekError(f"{url} answered HTTP {exc.code}: {detail or exc.reason}") from None
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

    def _post(self, texts: list[str], retries: int | None = None) -> np.ndarray:
        payload: dict[str, object] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self._dim:
            payload["dimensions"] = self._dim
        request = urllib.request.Request(self.url, json.dumps(payload).encode(), headers=self._headers)
        body = self._call(request, retries)
        try:
            rows = sorted(body["data"], key=lambda item: item["index"])
            vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise CodeseekError(f"{self.url} answered without a list of embeddings") from None
        if len(vectors) != len(texts) or vectors.ndim != 2:
            raise CodeseekError(f"{self.url} returned {len(vectors)} embeddings for {len(texts)} inputs")
        if self._dim and vectors.shape[1] != self._dim:
            raise CodeseekError(
                f"{self.url} returned {vectors.shape[1]}-dimensional vectors, not the {self._dim} asked for"
            )
        if hasattr(self, "info") and vectors.shape[1] != self.info.dim:
            raise CodeseekError(f"{self.url} changed dimension: {vectors.shape[1]}, not {self.info.dim}")
        return vectors

    def _embed(self, texts: list[str]) -> np.ndarray:
        limit = self.max_tokens * CHARS_PER_TOKEN
        texts = [text[:limit] for text in texts]  # right-truncate here: servers often keep the end instead
        batches = length_batches([len(t) // CHARS_PER_TOKEN + 1 for t in texts], max_items=self._batch_size,
                                 budget=self._batch_tokens)
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            parts = list(pool.map(self._post, ([texts[i] for i in batch] for batch in batches)))
        return in_input_order(batches, parts)


    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return normalise(self._post([self.query_prefix + t for t in texts], INTERACTIVE_RETRIES), self.info.dim)


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value), 60.0) if value else 0.0
    except ValueError:
        return 0.0
