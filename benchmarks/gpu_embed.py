"""The flagship on a GPU: Qwen3-Embedding-4B's architecture (random bf16 weights, see
qwen_fixture.py) through codeseek's transformers engine, on the standard library's chunks.

    python benchmarks/gpu_embed.py prepare [--bench .bench]          # here: chunk texts + tokenizer
    python benchmarks/gpu_embed.py run --bench .bench --out DIR      # on a CUDA machine

`run` reports tokens/s and chunks/s beside the bound, peak bf16 FLOP/s / (2 x 4e9 FLOP a
token), with the peak both as specified and as measured by a large matrix product in the
same run; the engine before this work (8 texts a batch, a wait for the GPU after each)
beside the engine now at several token budgets; a 32k-token chunk; peak GPU memory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sysconfig
import time
from pathlib import Path

SPEC_BF16_DENSE = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
FLOP_PER_TOKEN = 2 * 4e9
SAMPLE = 6000  # chunks for the comparisons; the best budget then embeds everything


def prepare(bench: Path) -> None:
    from qwen_fixture import save_tokenizer

    from codeseek.parsing import chunk_file

    root = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        texts.extend(c.embedding_text() for c in chunk_file(rel, path.read_bytes()))
    bench.mkdir(parents=True, exist_ok=True)
    with gzip.open(bench / "stdlib-texts.json.gz", "wt") as f:
        json.dump(texts, f)
    save_tokenizer(bench / "qwen-tokenizer")
    print(f"{len(texts)} chunk texts, {sum(map(len, texts)) / 1e6:.1f} M characters -> {bench}")


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def matmul_peak(device: str) -> float:
    import torch

    size = 8192 if device == "cuda" else 1024
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync()
    began = time.perf_counter()
    for _ in range(10):
        a @ b
    sync()
    return 10 * 2 * size**3 / (time.perf_counter() - began)


def legacy(embedder, texts: list[str]) -> None:
    """The engine before this work: at most 8,192 tokens a text, 8 texts a batch in
    character order, a mask always, a wait for the GPU after each batch."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), 8):
        rows = [r[:8191] + [embedder.eos_id] for r in embedder.encode([texts[i] for i in order[start : start + 8]])]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[embedder.pad_id] * (width - len(r)) + r for r in rows], device=embedder.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=embedder.device)
        with torch.inference_mode():
            hidden = embedder.model(input_ids=ids, attention_mask=mask).last_hidden_state
        hidden[:, -1].float().cpu().numpy()


def timed(run, tokens: int, chunks: int, bound: float) -> dict[str, float]:
    import torch

    sync()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    run()
    sync()
    seconds = time.perf_counter() - began
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    return {"seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds), "chunks_per_s": round(chunks / seconds, 1),
            "of_bound": round(tokens / seconds / bound, 3), "peak_gib": round(peak, 2)}


def profile(embedder, sample: list[str]) -> str:
    """Where the GPU's time goes in one call: the kernels that take the most of it."""
    import torch
    from torch.profiler import ProfilerActivity

    with torch.profiler.profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        embedder.embed_documents(sample[:2000])
        sync()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=60)


def run(bench: Path, out: Path, budgets: list[int], device: str, model: Path | None, sample_size: int,
        whole: bool, before: bool, compile_: bool) -> None:
    import torch
    from qwen_fixture import save_random_model

    from codeseek.embedding.decoder import DecoderEmbedder

    out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    report: dict[str, object] = {"device": name, "torch": torch.__version__}
    measured = matmul_peak(device)
    spec = next((f for chip, f in SPEC_BF16_DENSE.items() if chip in str(report["device"])), measured)
    report |= {"matmul_tflops": round(measured / 1e12), "spec_tflops": round(spec / 1e12),
               "bound_tokens_per_s": round(measured / FLOP_PER_TOKEN), "spec_bound_tokens_per_s": round(spec / FLOP_PER_TOKEN)}
    bound = measured / FLOP_PER_TOKEN
    print(json.dumps(report), flush=True)

    model_dir = model or Path("/tmp/qwen3-embedding-4b-random")
    began = time.perf_counter()
    if not (model_dir / "config.json").exists():
        save_random_model(bench / "qwen-tokenizer", model_dir, device)
    report["fixture_s"] = round(time.perf_counter() - began, 1)
    began = time.perf_counter()
    embedder = DecoderEmbedder(str(model_dir), device=device)
    report["load_s"] = round(time.perf_counter() - began, 1)
    report["engine"] = {"dtype": str(embedder.model.dtype), "attention": embedder.model.config._attn_implementation,
                        "max_tokens": embedder.max_tokens}

    with gzip.open(bench / "stdlib-texts.json.gz", "rt") as f:
        texts: list[str] = json.load(f)
    began = time.perf_counter()
    lengths = [len(ids) for ids in embedder.encode(texts)]
    report["tokenize_s"] = round(time.perf_counter() - began, 1)
    report["corpus"] = {"chunks": len(texts), "tokens": sum(lengths), "p50": statistics.median(lengths),
                        "p90": sorted(lengths)[int(0.9 * len(lengths))], "max": max(lengths)}
    print(json.dumps(report), flush=True)

    sample_ids = random.Random(7).sample(range(len(texts)), min(sample_size, len(texts)))
    sample = [texts[i] for i in sample_ids]
    sample_tokens = sum(lengths[i] for i in sample_ids)
    embedder.embed_documents(sample[:64])  # warm up kernels
    results: dict[str, dict[str, float]] = {}
    if before:
        results["before (8 a batch, a wait each)"] = timed(lambda: legacy(embedder, sample), sample_tokens,
                                                           len(sample), bound)
    if device == "cuda":
        (out / "profile.txt").write_text(profile(embedder, sample))
    for budget in budgets:
        embedder.batch_tokens = budget
        padded = sum(len(b) * max(lengths[sample_ids[i]] for i in b)
                     for b in embedder.batches([lengths[i] for i in sample_ids]))
        result = timed(lambda: embedder.embed_documents(sample), sample_tokens, len(sample), bound)
        results[f"budget {budget}"] = result | {"padding": round(1 - sample_tokens / padded, 3)}
        print(json.dumps(results), flush=True)
    best = max(budgets, key=lambda b: results[f"budget {b}"]["tokens_per_s"])
    embedder.batch_tokens = best
    if compile_:
        embedder.model = torch.compile(embedder.model, dynamic=True)
        began = time.perf_counter()
        embedder.embed_documents(sample[:512])
        results["torch.compile warm-up"] = {"seconds": round(time.perf_counter() - began, 1)}
        results[f"torch.compile, budget {best}"] = timed(lambda: embedder.embed_documents(sample), sample_tokens,
                                                         len(sample), bound)
        print(json.dumps(results), flush=True)
    if whole:
        results[f"whole stdlib, budget {best}"] = timed(lambda: embedder.embed_documents(texts), sum(lengths),
                                                        len(texts), bound)
    report["results"] = results
    print(json.dumps(results), flush=True)

    code = "\n".join(texts)
    long_text = embedder.tokenizer.decode(embedder.encode([code[:400_000]])[0][:-1])  # a full 32k context
    tokens = len(embedder.encode([long_text])[0])
    report["long_chunk"] = {"tokens": tokens} | timed(lambda: embedder.embed_documents([long_text]), tokens, 1, bound)
    (out / "gpu_embed.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["long_chunk"]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "run"])
    parser.add_argument("--bench", type=Path, default=Path(".bench"))
    parser.add_argument("--out", type=Path, default=Path(".bench/out"))
    parser.add_argument("--budgets", type=int, nargs="*", default=[16384, 32768, 65536])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", type=Path, help="a model folder to use instead of the random 4B one")
    parser.add_argument("--sample", type=int, default=SAMPLE, help="chunks for the comparisons")
    parser.add_argument("--whole", action="store_true", help="then embed every chunk with the best budget")
    parser.add_argument("--before", action="store_true", help="measure the engine before this work too")
    parser.add_argument("--compile", action="store_true", help="measure torch.compile too")
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.bench)
    else:
        run(args.bench, args.out, args.budgets, args.device, args.model, args.sample, args.whole, args.before,
            args.compile)


if __name__ == "__main__":
    main()
