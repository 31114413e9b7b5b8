"""Embedding throughput per engine on chunks of the Python standard library.

    python benchmarks/embed_throughput.py [--chunks N] [--cpu-variants] [--qwen4b-random]

- the CPU default, codeseek's code model on ONNX Runtime (int8), beside the torch engine it
  replaced in float32 and under bf16 autocast (where the CPU has bf16): chunks/s, each one's
  cosine to torch float32, and one query's embedding time (p50, p95).
- http: the OpenAI-compatible client against a server on 127.0.0.1 that runs the CPU
  default, so the difference from its line above is the client's and the wire's cost.
- vllm: Qwen3-Embedding-4B, where vllm and a CUDA GPU exist.
- --cpu-variants: the CPU default's context (256 or 128 tokens), batch size and int8
  dynamic quantization, each with its vectors' cosine to the default's.
- --precision: each bundled model in float32 and under bf16 autocast, with the cosine of the
  bf16 vectors to the float32 ones (and whether this CPU multiplies bf16 in hardware).
- --qwen4b-random (CUDA only): the Qwen3-Embedding-4B architecture with random weights in
  bf16 through torch, beside the bound peak FLOP/s / (2 x 4e9) tokens per second (the full
  GPU benchmark is gpu_embed.py).
"""

from __future__ import annotations

import argparse
import json
import sysconfig
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from codeseek.embedding import gpu_with_vllm
from codeseek.embedding.base import Embedder
from codeseek.embedding.http import HttpEmbedder
from codeseek.embedding.onnxrt import OnnxEmbedder
from codeseek.parsing import chunk_file

DENSE_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "4090": 165e12, "3060": 51e12}


def stdlib_texts(count: int, every: int = 7) -> list[str]:
    """What codeseek embeds for the standard library's code: every `every`-th file's chunks, in
    order (training/export_onnx.py takes every 5th, so its sample mostly differs from this one)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    texts: list[str] = []
    for path in sorted(root.rglob("*.py"))[::every]:
        texts.extend(c.embedding_text() for c in chunk_file(path.name, path.read_bytes()))
        if len(texts) >= count:
            break
    return texts[:count]


def measure(name: str, embed: Callable[[Sequence[str]], np.ndarray], texts: list[str], tokens: int) -> np.ndarray:
    embed(texts[:8])  # warm up
    began = time.perf_counter()
    vectors = embed(texts)
    took = time.perf_counter() - began
    print(f"{name:<34} {len(texts) / took:8.1f} chunks/s {tokens / took:10.0f} tokens/s", end="")
    return vectors


def query_latency(embedder: Embedder, queries: list[str]) -> str:
    """One query at a time, as a search embeds it."""
    embedder.embed_queries(queries[:3])  # warm up
    took = []
    for query in queries:
        began = time.perf_counter()
        embedder.embed_queries([query])
        took.append((time.perf_counter() - began) * 1000)
    took.sort()
    return f"query p50 {took[len(took) // 2]:.1f} ms, p95 {took[int(len(took) * 0.95)]:.1f} ms"


def cpu_engines(texts: list[str], tokens: int) -> OnnxEmbedder:
    """The CPU default beside the torch engine it replaced, on the same chunks and questions."""
    import tomllib

    from codeseek.embedding.sentence import SentenceTransformerEmbedder, cpu_has_bf16

    with open(Path(__file__).with_name("questions.toml"), "rb") as handle:
        queries = [q["query"] for q in tomllib.load(handle)["question"]]
    torch_engine = SentenceTransformerEmbedder()
    reference = None
    for precision in ("float32", "bf16") if cpu_has_bf16() else ("float32",):
        torch_engine._bf16 = precision == "bf16"
        vectors = measure(f"torch {precision} (sentence-transformers)", torch_engine.embed_documents, texts, tokens)
        reference = vectors if reference is None else reference
        cos = np.sum(reference * vectors, axis=1)
        print(f"  cosine to torch float32 mean {cos.mean():.5f} min {cos.min():.5f}; "
              f"{query_latency(torch_engine, queries)}", flush=True)
    onnx = OnnxEmbedder()
    vectors = measure("onnxruntime int8 (the default)", onnx.embed_documents, texts, tokens)
    cos = np.sum(reference * vectors, axis=1)
    print(f"  cosine to torch float32 mean {cos.mean():.5f} min {cos.min():.5f}; {query_latency(onnx, queries)}",
          flush=True)
    return onnx


def serve(embedder: Embedder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._send({"data": [{"id": embedder.info.model}]})

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            vectors = embedder.embed_documents(payload["input"])
            self._send({"data": [{"index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]})

        def _send(self, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def qwen4b_random() -> None:
    import torch
    from transformers import Qwen3Config, Qwen3Model

    config = Qwen3Config(vocab_size=151665, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=32768)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Qwen3Model(config).eval()
    params = sum(p.numel() for p in model.parameters())
    batch, length = 32, 512
    ids = torch.randint(0, config.vocab_size, (batch, length), device="cuda")
    with torch.inference_mode():
        model(input_ids=ids)
        torch.cuda.synchronize()
        began = time.perf_counter()
        rounds = 10
        for _ in range(rounds):
            model(input_ids=ids)
        torch.cuda.synchronize()
    rate = batch * length * rounds / (time.perf_counter() - began)
    name = torch.cuda.get_device_name()
    peak = next((flops for chip, flops in DENSE_BF16_PEAK.items() if chip in name), None)
    line = f"Qwen3-4B architecture, random bf16 ({params / 1e9:.2f}B params), {name}: {rate:,.0f} tokens/s"
    if peak:
        bound = peak / (2 * 4e9)
        line += f"; bound {bound:,.0f} tokens/s ({rate / bound:.0%})"
    print(line)


def cpu_variants(texts: list[str]) -> None:
    """Chunks/s of the CPU default under each setting, and how far its vectors move."""
    import torch

    from codeseek.embedding.sentence import SentenceTransformerEmbedder

    reference = SentenceTransformerEmbedder()
    reference._model.max_seq_length = 256  # the model's config; the defaults before this work
    base = reference.embed_documents(texts)
    for tokens in (256, 128):
        for batch in (8, 16, 32, 64):
            for quantized in (False, True):
                embedder = SentenceTransformerEmbedder(batch_size=batch)
                embedder._model.max_seq_length = tokens
                if quantized:
                    embedder._model = torch.ao.quantization.quantize_dynamic(
                        embedder._model, {torch.nn.Linear}, dtype=torch.qint8)
                embedder.embed_documents(texts[:32])  # warm up
                began = time.perf_counter()
                vectors = embedder.embed_documents(texts)
                rate = len(texts) / (time.perf_counter() - began)
                agreement = float(np.mean(np.sum(vectors * base, axis=1)))
                print(f"{tokens} tokens, batch {batch:>3}, {'int8' if quantized else 'fp32'}: "
                      f"{rate:6.1f} chunks/s, mean cosine to 256/fp32 {agreement:.4f}", flush=True)


def precisions(texts: list[str]) -> None:
    """Chunks/s of each bundled model in float32 and under bf16 autocast, best of three. The
    engine picks bf16 by itself where the CPU has it; here each precision is set by hand."""
    import torch

    from codeseek.embedding.bundled import BUNDLED
    from codeseek.embedding.sentence import SentenceTransformerEmbedder, cpu_has_bf16

    print(f"bf16 in hardware (amx_bf16 or avx512_bf16): {cpu_has_bf16()}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for model in BUNDLED:
        embedder = SentenceTransformerEmbedder(model)
        embedder.embed_documents(texts[:32])  # warm up
        vectors = {}
        for precision in ("float32", "bf16"):
            embedder._bf16 = precision == "bf16"
            rates = []
            for _ in range(3):
                began = time.perf_counter()
                vectors[precision] = embedder.embed_documents(texts)
                rates.append(len(texts) / (time.perf_counter() - began))
            print(f"{model:<30} {precision:<8} {max(rates):6.1f} chunks/s", flush=True)
        agreement = np.sum(vectors["float32"] * vectors["bf16"], axis=1)
        print(f"{model:<30} bf16 cosine to float32: mean {agreement.mean():.5f}, min {agreement.min():.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=400)
    parser.add_argument("--qwen4b-random", action="store_true")
    parser.add_argument("--cpu-variants", action="store_true")
    parser.add_argument("--precision", action="store_true")
    args = parser.parse_args()
    if args.precision:
        precisions(stdlib_texts(args.chunks))
        return
    if args.cpu_variants:
        cpu_variants(stdlib_texts(args.chunks))
        return

    texts = stdlib_texts(args.chunks)
    tokens = sum(len(ids) for ids in OnnxEmbedder().tokens.encode(texts))
    print(f"{len(texts)} stdlib chunks, {tokens} MiniLM tokens (mean {tokens / len(texts):.0f})")
    local = cpu_engines(texts, tokens)
    httpd = serve(local)
    client = HttpEmbedder(f"http://127.0.0.1:{httpd.server_address[1]}/v1", concurrency=2)
    measure("http -> local CPU default server", client.embed_documents, texts, tokens)
    print()
    httpd.shutdown()
    if gpu_with_vllm():
        from codeseek.embedding.vllm import VllmEmbedder

        qwen = VllmEmbedder()
        qwen_tokens = sum(len(qwen.token_ids(t)) for t in texts)
        measure("vllm Qwen3-Embedding-4B", qwen.embed_documents, texts, qwen_tokens)
        print()
    else:
        print("vllm: skipped (needs vllm and a CUDA GPU)")
    if args.qwen4b_random:
        qwen4b_random()


if __name__ == "__main__":
    main()
