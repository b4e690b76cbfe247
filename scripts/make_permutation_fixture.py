#!/usr/bin/env python3
"""Reference rows for un-permuting llama.cpp's Q/K projections (Tessera's GGUF loader).

llama.cpp's convert_hf_to_gguf stores the rows of every llama attn_q / attn_k weight
permuted for its rotary layout:
    gguf = hf.reshape(n_head, 2, head_dim // 2, cols).swapaxes(1, 2).reshape(rows, cols)
(n_head = head_count for Q, head_count_kv for K). transformers undoes this when it loads
a GGUF, so its q_proj / k_proj weights are the reference for Tessera's GGUFWeightSource,
which must return the same rows bit for bit.

Writes Tests/Fixtures/gguf/permutation_ref.safetensors: key '<hf name>:rows<a>-<b>' holds
rows a..b-1 (half-open) of that float32 weight as transformers loads it from
SmolLM2-135M-Instruct.Q4_1.gguf. Row ranges are chosen to cross the boundary between the
two rotary halves of a head (row 32 of 64) and between heads (row 64).

Usage (about 20 s): python3 scripts/make_permutation_fixture.py [--gguf PATH] [--out FILE]
Needs torch, transformers, gguf, accelerate, safetensors.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# (Hugging Face tensor name, first row, end row): ~60 rows of 576 floats, about 140 KB.
ROWS = [
    ("model.layers.0.self_attn.q_proj.weight", 0, 8),
    ("model.layers.0.self_attn.q_proj.weight", 28, 36),
    ("model.layers.0.self_attn.q_proj.weight", 568, 576),
    ("model.layers.0.self_attn.k_proj.weight", 0, 8),
    ("model.layers.0.self_attn.k_proj.weight", 60, 68),
    ("model.layers.0.self_attn.k_proj.weight", 184, 192),
    ("model.layers.29.self_attn.q_proj.weight", 90, 100),
    ("model.layers.0.self_attn.v_proj.weight", 30, 34),
]


def main() -> None:
    home = Path(os.environ.get("TESSERA_HOME", Path.home() / ".cache" / "tessera"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", type=Path, default=home / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "gguf" / "permutation_ref.safetensors")
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        str(args.gguf.parent), gguf_file=args.gguf.name, dtype=torch.float32)
    weights = dict(model.named_parameters())
    tensors = {}
    for name, first, end in ROWS:
        tensors[f"{name}:rows{first}-{end}"] = weights[name].detach()[first:end].contiguous().clone()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out), metadata={
        "source_gguf": args.gguf.name,
        "reference": "transformers AutoModelForCausalLM.from_pretrained(gguf_file=..., dtype=float32)",
    })
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
