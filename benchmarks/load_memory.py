"""Peak RSS while loading a tiny_starcoder_py-shaped (164M) checkpoint: ours vs transformers.

    python benchmarks/load_memory.py [--dtype float32|bfloat16] [--keep DIR]

Each loader runs in a fresh process; we report the RSS after imports (baseline), the peak RSS
(ru_maxrss) after loading, and the peak increase as a multiple of the safetensors file size.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, psutil, torch
torch.set_num_threads(2)
which, path, dtype = sys.argv[1], sys.argv[2], sys.argv[3]
if which == "ours":
    import starcoder, starcoder.checkpoint
else:
    from transformers import AutoModelForCausalLM
base = psutil.Process().memory_info().rss
if which == "ours":
    model, _ = starcoder.load(path, dtype=dtype)
else:
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
def hwm():  # this process's own peak RSS (ru_maxrss would include the parent's peak across exec)
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
peak = hwm()
with torch.no_grad():  # touch every weight: mmap'd pages count from here on
    model(torch.zeros(1, 8, dtype=torch.long))
print(json.dumps({"base": base, "peak": peak, "peak_fwd": hwm()}))
"""


def make_checkpoint(d: Path, dtype: str) -> int:
    import torch

    from starcoder.checkpoint import save
    from starcoder.config import preset
    from starcoder.model import GPTBigCode

    torch.manual_seed(0)
    model = GPTBigCode(preset("tiny_starcoder_py")).init_weights()
    save(model, d, dtype=dtype)
    return sum(f.stat().st_size for f in d.glob("*.safetensors"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--keep", help="write the checkpoint here instead of a temporary folder")
    ap.add_argument("--make", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        print(make_checkpoint(Path(args.make), args.dtype))
        return
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.keep or tmp) / "tiny_starcoder_py_random"
        # made in a child process too, so that this parent stays small
        size = int(subprocess.run([sys.executable, __file__, "--make", str(d), "--dtype", args.dtype],
                                  capture_output=True, text=True, check=True).stdout.split()[-1])
        print(f"checkpoint: 164M params, {args.dtype}, safetensors {size / 2**20:.0f} MiB")
        print(f"{'loader':<14}{'baseline MiB':>14}{'load peak':>11}{'x file':>8}{'+1 forward peak':>17}{'x file':>8}")
        for which in ("ours", "transformers"):
            r = json.loads(subprocess.run([sys.executable, "-c", CHILD, which, str(d), args.dtype],
                                          capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            inc, inc_fwd = r["peak"] - r["base"], r["peak_fwd"] - r["base"]
            print(f"{which:<14}{r['base'] / 2**20:>14.0f}{inc / 2**20:>11.0f}{inc / size:>8.2f}"
                  f"{inc_fwd / 2**20:>17.0f}{inc_fwd / size:>8.2f}")
        print("(MiB above the baseline RSS after imports; 'x file' = that increase / safetensors size)")


if __name__ == "__main__":
    main()
