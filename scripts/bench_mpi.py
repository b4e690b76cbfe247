"""Ranks as processes against ranks as threads, in one run (`make bench-mpi`).

1. Decode step time at 8k/16k/32k context on DESIGN.md's reference shape (Qwen3-0.6B, 1 KV
   head, dummy weights, bf16 KV), tp=2 cp=1 and cp=2: `tessera bench-decode` with two rank
   threads, then the same command under `mpirun -np 2`, one run per cp. Each prints its method,
   its table and the resident memory of the process that printed it (rank 0's under mpirun).
2. The latency of one small all-gather, processes against threads (`tessera-mpi-check --latency`).
3. Idle CPU: `tessera serve` under `mpirun -np 4` with no requests; CPU seconds each rank
   process uses over 20 s (from /proc/<pid>/stat), as a share of one core.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1")
if os.geteuid() == 0:
    ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def run(title: str, cmd: list[str]) -> str:
    print(f"\n## {title}\n$ {' '.join(cmd)}", flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    print(result.stdout, flush=True)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def idle_cpu(tessera: str, seconds: float) -> None:
    model = str(ROOT / "Tests" / "Fixtures" / "models" / "tiny-llama-1kv")
    cmd = ["mpirun", "-np", "4", tessera, "serve", "--model", model, "-tp", "4", "--port", "0",
           "--kv-cache-memory", "16MiB"]
    print(f"\n## Idle CPU per rank process, {seconds:.0f} s with no requests\n$ {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        for line in proc.stderr:
            if "serving" in line:
                break
        time.sleep(2)  # past start-up
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        ranks = {}
        for pid in children:
            for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                if entry.startswith(b"OMPI_COMM_WORLD_RANK="):
                    ranks[int(entry.split(b"=")[1])] = pid
        before = {rank: cpu_seconds(pid) for rank, pid in ranks.items()}
        time.sleep(seconds)
        after = {rank: cpu_seconds(pid) for rank, pid in ranks.items()}
        for rank in sorted(ranks):
            print(f"rank {rank}: {100 * (after[rank] - before[rank]) / seconds:.1f}% of a core")
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tessera", default=str(ROOT / ".build" / "release" / "tessera"))
    parser.add_argument("--contexts", default="8192,16384,32768")
    args = parser.parse_args()
    # One process (or job) per configuration, so that each resident-memory figure is that
    # configuration's alone (freed memory is not always returned to the system).
    resident = {}
    for cp in (1, 2):
        decode = [args.tessera, "bench-decode", "--model", str(ROOT / "examples" / "qwen3-0.6b-1kv"), "--load-format",
                  "dummy", "-tp", "2", "--cp-sizes", str(cp), "--contexts", args.contexts]
        for kind, prefix in (("2 threads of one process", []), ("2 processes (mpirun -np 2)", ["mpirun", "-np", "2"])):
            out = run(f"Decode cp={cp}, ranks as {kind}", [*prefix, *decode])
            match = re.search(r"resident memory of this process[^:]*: ([\d.]+ \w+); KV slice per rank: ([\d.]+ \w+)", out)
            resident[(cp, kind)] = match.groups() if match else ("?", "?")
    print("\n## Resident memory of rank 0's process after filling the cache (same tokens at cp=1 and cp=2)")
    for (cp, kind), (rss, kv) in resident.items():
        print(f"cp={cp}, {kind}: {rss} resident, KV slice per rank {kv}")
    check = str(Path(args.tessera).parent / "tessera-mpi-check")
    for np in (2, 4):
        run(f"Small all-gather, {np} ranks", ["mpirun", "-np", str(np), check, "--latency"])
    idle_cpu(args.tessera, 20)


if __name__ == "__main__":
    main()
