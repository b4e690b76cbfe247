"""Quantised-type fixtures (`make_fixtures.py --only quant`): rows of every GGML type that
llama.cpp's quantiser produces from the default model, with gguf-py's dequantisation.

Step 1 writes the default SmolLM2 GGUF (itself Q4_1) again as ten other llama.cpp file types
with `llama_cpp.llama_model_quantize` (llama-cpp-python 0.3.36, `allow_requantize`) into
$TESSERA_HOME/quant/ (not committed; files that exist are kept). Step 2 takes two rows of one
real tensor of each type found there and writes Tests/Fixtures/quant/<TYPE>.json: the raw row
bytes and gguf-py's f32 values as bit patterns, so a dequantiser can be checked bit for bit.

Kept apart from make_fixtures.py so that its imports (llama_cpp) stay out of the other groups.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

# The file types written in step 1, by llama.cpp's name (LLAMA_FTYPE_MOSTLY_<name>).
QUANT_FILE_TYPES = ["Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0", "Q5_0", "Q5_1", "IQ4_NL", "Q2_K", "Q3_K_M"]

# Fixture types, in the order they are written. F16 and BF16 are not in any quantised file:
# they come from gguf-py's own conversion of a real f32 row.
FIXTURE_TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                 "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL"]

ROWS_PER_FIXTURE = 2


def quant_dir(home: Path) -> Path:
    return home / "quant"


def quantised_path(home: Path, ftype: str) -> Path:
    return quant_dir(home) / f"SmolLM2-135M-Instruct.{ftype}.gguf"


def write_quantised_models(source: Path, home: Path, log) -> list[Path]:
    """Step 1: the default model as every type of QUANT_FILE_TYPES (existing files are kept);
    logs each file's tensor types. Returns the paths, in QUANT_FILE_TYPES order."""
    import llama_cpp

    quant_dir(home).mkdir(parents=True, exist_ok=True)
    paths = []
    for ftype in QUANT_FILE_TYPES:
        dst = quantised_path(home, ftype)
        if not dst.exists():
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
            params.nthread = 2
            # the source is Q4_1 already: without this llama.cpp refuses to quantise again
            params.allow_requantize = True
            tmp = dst.with_suffix(".partial")
            rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
            if rc != 0:
                raise RuntimeError(f"llama_model_quantize({source} -> {tmp}, {ftype}) returned {rc}")
            tmp.rename(dst)
        log(f"quant: {dst.name}: {_type_counts(dst)}")
        paths.append(dst)
    return paths


@functools.lru_cache(maxsize=None)
def _reader(path: Path):
    """One GGUFReader per file (parsing a 100 MB file's header takes seconds)."""
    from gguf import GGUFReader

    return GGUFReader(str(path))


def _type_counts(path: Path) -> dict:
    counts: dict[str, int] = {}
    for t in _reader(path).tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return dict(sorted(counts.items()))


def _bits_hex(values: np.ndarray) -> str:
    """f32 values as concatenated 8-digit big-endian hex words: each word is the value's
    uint32 bit pattern as one would print it (1.0 -> 3f800000)."""
    bits = np.ascontiguousarray(values, dtype="<f4").view("<u4")
    return "".join(f"{int(b):08x}" for b in bits)


def _first_tensor_of_type(files: list[Path], type_name: str):
    """The first tensor of `type_name` in `files` (in order; 2-D preferred, F32 weights are all
    1-D norms): (path, tensor). Walks the files in order so that the choice does not depend on
    the file system."""
    for dims in (2, 1):
        for path in files:
            for t in _reader(path).tensors:
                if t.tensor_type.name == type_name and len(t.shape) == dims:
                    return path, t
    return None


def _n_rows(t) -> int:
    return int(np.prod([int(x) for x in t.shape[1:]], dtype=np.int64))


def _row_bytes(t) -> int:
    from gguf import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[t.tensor_type]
    return int(t.shape[0]) // block * size


def _rows_of(t, rows: list[int]) -> list[bytes]:
    """Raw bytes of whole rows of `t` as stored in the file (ne[0] values each)."""
    data = np.asarray(t.data).reshape(-1).view(np.uint8)
    rb = _row_bytes(t)
    assert data.size == rb * _n_rows(t), (t.name, data.size, rb, t.shape)
    return [data[r * rb:(r + 1) * rb].tobytes() for r in rows]


def _pick_rows(n_rows: int) -> list[int]:
    """The first row and one from the middle: two unrelated rows of the tensor (one if that is all)."""
    return sorted({0, n_rows // 2})[:ROWS_PER_FIXTURE]


def _fixture(type_name: str, source: Path, entries: list[dict], how: str) -> dict:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    qt = GGMLQuantizationType[type_name]
    block, size = GGML_QUANT_SIZES[qt]
    return {
        "description": f"{type_name}: rows of a model file's tensor and gguf-py's dequantisation of them. {how}",
        "type": type_name,
        "type_id": int(qt),
        "block_elements": block,
        "block_bytes": size,
        "source_file": source.name,
        "rows": entries,
    }


def _row_entry(tensor: str, row: int, n: int, raw: bytes, values: np.ndarray) -> dict:
    assert values.shape == (n,) and values.dtype == np.float32
    return {"tensor": tensor, "row": row, "n": n, "n_bytes": len(raw),
            "bytes_hex": raw.hex(), "values_bits_hex": _bits_hex(values)}


def quant_row_fixtures(files: list[Path], source: Path, out: Path, write_json, log) -> list[Path]:
    """Step 2: Tests/Fixtures/quant/<TYPE>.json for every FIXTURE_TYPES entry; `files` are the
    quantised models of step 1 (searched in that order after the source model)."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    search = [source] + list(files)
    written = []
    for type_name in FIXTURE_TYPES:
        qt = GGMLQuantizationType[type_name]
        if type_name in ("F16", "BF16"):
            # gguf-py's own conversion of two rows of a real f32 weight (the source model's
            # blk.0.attn_q.weight, dequantised from Q4_1 by gguf-py)
            path = source
            t = next(x for x in _reader(path).tensors if x.name == "blk.0.attn_q.weight")
            rows = _pick_rows(_n_rows(t))
            entries = []
            for r, raw in zip(rows, _rows_of(t, rows)):
                f32 = dequantize(np.frombuffer(raw, dtype=np.uint8), t.tensor_type).reshape(-1)
                stored = quantize(f32.astype(np.float32), qt)
                rawq = np.ascontiguousarray(stored).view(np.uint8).tobytes()
                values = dequantize(np.frombuffer(rawq, dtype=np.uint8), qt).reshape(-1)
                entries.append(_row_entry(t.name, r, int(t.shape[0]), rawq, values.astype(np.float32)))
            how = (f"Rows of {t.name} ({t.tensor_type.name}) dequantised by gguf-py, converted by "
                   f"gguf.quants.quantize(.., {type_name}), dequantised again.")
        else:
            found = _first_tensor_of_type(search, type_name)
            if found is None:
                raise RuntimeError(f"no {type_name} tensor in {[p.name for p in search]}")
            path, t = found
            rows = _pick_rows(_n_rows(t))
            entries = []
            for r, raw in zip(rows, _rows_of(t, rows)):
                values = dequantize(np.frombuffer(raw, dtype=np.uint8), qt).reshape(-1)
                entries.append(_row_entry(t.name, r, int(t.shape[0]), raw, values.astype(np.float32)))
            how = f"Raw rows as stored in {path.name}, dequantised by gguf.quants.dequantize."
        _check_whole_tensor_agrees(t, rows, entries, type_name)
        doc = _fixture(type_name, path, entries, how)
        dst = out / "quant" / f"{type_name}.json"
        write_json(dst, doc)
        written.append(dst)
        log(f"quant: {dst.name}: {path.name} {t.name} ne={list(map(int, t.shape))} rows {rows}, "
            f"{dst.stat().st_size} bytes")
    return written


def _check_whole_tensor_agrees(t, rows: list[int], entries: list[dict], type_name: str) -> None:
    """The per-row dequantisation equals the rows of gguf-py dequantising the whole tensor (for
    the types taken from a file as stored): a row is a self-contained run of blocks."""
    if type_name in ("F16", "BF16") or int(t.n_elements) > 1 << 22:
        return  # (token_embd: 28M values, too slow to dequantise whole)
    from gguf.quants import dequantize

    whole = dequantize(np.asarray(t.data), t.tensor_type).reshape(_n_rows(t), int(t.shape[0]))
    for r, e in zip(rows, entries):
        assert e["values_bits_hex"] == _bits_hex(whole[r].astype(np.float32)), (t.name, r)


def quant_fixtures(gguf_path: Path, home: Path, out: Path, tok_dir: Path, mf) -> None:
    """Steps 1, 4 and 2 (the tiny K-quant model gives the Q2_K rows). `mf` is make_fixtures.py's
    module: its write_json records each file for the manifest."""
    from fixtures_kquant_model import kquant_model_fixtures

    files = write_quantised_models(gguf_path, home, mf.log)
    _committed, tiny_files = kquant_model_fixtures(out, home, tok_dir, mf, mf.log)
    quant_row_fixtures(files + tiny_files, gguf_path, out, mf.write_json, mf.log)


if __name__ == "__main__":  # step 1 alone, for a look at the files
    import os
    import sys

    home = Path(os.environ.get("TESSERA_HOME", Path.home() / ".cache" / "tessera"))
    write_quantised_models(home / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf", home,
                           lambda m: print(m, flush=True))
    sys.exit(0)
