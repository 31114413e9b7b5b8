"""How fast a larger student would embed on a CPU, as the default does: issue 30 asks for a
12-layer or wider model only if it is no slower per chunk than today's default.

    python training/student_speed.py [--chunks 600] [--work DIR]

Speed depends on a model's shape, not its weights: each candidate is all-MiniLM-L6-v2's
configuration with more layers or a wider hidden size, randomly initialised (no hub here to
fetch a pretrained 12-layer model), exported and quantized exactly as the shipped file is
(export_onnx.py's `int8-mixed-3`: its first three layers' FFN outputs kept float), and timed
through codeseek's own ONNX engine on the same standard-library chunks, one after another,
beside the shipped default's file in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "training"))

from export_onnx import RECIPES, export_float32, stdlib_texts, timed  # noqa: E402

from codeseek.embedding import DEFAULT_MODEL  # noqa: E402
from codeseek.embedding.bundled import base_path  # noqa: E402
from codeseek.embedding.onnxrt import OnnxEmbedder  # noqa: E402


@dataclass(frozen=True)
class Shape:
    name: str
    layers: int
    hidden: int  # the intermediate size is 4x; 12 heads, as all-MiniLM-L6-v2 has (32 wide at 384)


SHAPES = [Shape("L6-H384 (today's shape)", 6, 384), Shape("L12-H384", 12, 384), Shape("L6-H768", 6, 768)]


def candidate(shape: Shape) -> object:
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(base_path())
    config.num_hidden_layers, config.hidden_size = shape.layers, shape.hidden
    config.intermediate_size = 4 * shape.hidden
    return BertModel(config, add_pooling_layer=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=600)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "students")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)
    chunks = stdlib_texts(args.chunks, every=5)
    recipe = next(r for r in RECIPES if r.name == "int8-mixed-3")
    _, default_speed = timed(OnnxEmbedder(DEFAULT_MODEL)._embed, chunks)
    print(f"{len(chunks)} standard-library chunks, {os.cpu_count()} cores")
    print(f"{'the shipped default (' + DEFAULT_MODEL + ')':<48} {default_speed:7.1f} chunks/s  1.00x")
    for shape in SHAPES:
        source, out = args.work / f"{shape.layers}-{shape.hidden}.onnx", args.work / f"{shape.layers}-{shape.hidden}-int8.onnx"
        export_float32(candidate(shape), source)
        recipe.make(source, args.work, out)
        _, speed = timed(OnnxEmbedder(DEFAULT_MODEL, path=out)._embed, chunks)  # raw: a wider model has more dims
        print(f"{shape.name + ', ' + recipe.name:<48} {speed:7.1f} chunks/s  {speed / default_speed:.2f}x  "
              f"{out.stat().st_size / 1e6:.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
