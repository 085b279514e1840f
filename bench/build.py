"""Time `aether-policy build`: a cold process (what CI and a pre-commit hook pay) and in-process rendering.

.venv/bin/python bench/build.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aether_policy import load_policy
from aether_policy.render import build_site

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("aether-policy")
    with tempfile.TemporaryDirectory() as out:
        cold = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([str(exe), "build", "--out", out], cwd=ROOT, check=True, capture_output=True)
            cold.append(time.perf_counter() - start)
    policy = ROOT / "policies" / "aetherapi.yaml"
    warm_load, warm_render = [], []
    for _ in range(args.runs * 5):
        start = time.perf_counter()
        loaded = load_policy(policy)
        middle = time.perf_counter()
        build_site(loaded, ROOT / "templates")
        warm_load.append(middle - start)
        warm_render.append(time.perf_counter() - middle)
    print(
        f"cold `aether-policy build` (process start to exit): median {statistics.median(cold) * 1000:.0f} ms, "
        f"max {max(cold) * 1000:.0f} ms over {args.runs} runs"
    )
    print(f"in-process load+validate: median {statistics.median(warm_load) * 1000:.1f} ms")
    print(f"in-process render (3 files): median {statistics.median(warm_render) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
