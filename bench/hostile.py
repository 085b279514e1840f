"""What a hostile policy costs: wall time and peak memory of `aether-policy validate` on each input.

Each input runs in a fresh process under a 1 GiB address-space limit, as tests/hostile.py does; the numbers
show the loader's caps at work (the inputs used to take minutes, gigabytes, or never finish).

.venv/bin/python bench/hostile.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "policies" / "aetherapi.yaml").read_text(encoding="utf-8")
CHILDREN = "Our Service is not directed to individuals under the age of {{ children.minimum_age }}. We do"

_CHILD = """
import atexit, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
atexit.register(lambda: print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
from aether_policy.cli import main
sys.argv = ["aether-policy", *sys.argv[1:]]
main()
"""


def billion_laughs() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 10)]
    return "\n".join(lines) + "\n"


def dense(size: int) -> str:
    rows = "".join(f"k{i}: [a, b, {{c: d, e: 'some text here'}}]\n" for i in range(size // 30))
    return rows[: rows.rfind("\n", 0, size) + 1]


def prose(text: str) -> str:
    return SHIPPED.replace(CHILDREN, text)


INPUTS = {
    "shipped policy (baseline)": SHIPPED,
    "billion laughs (9**9 values)": billion_laughs(),
    "200 kB text repeated by 2,000 aliases": "big: &big "
    + "x" * 200_000
    + "\nmany: ["
    + ", ".join(["*big"] * 2_000)
    + "]\n",
    "5,000 nested lists": "service: " + "[" * 5_000 + "]" * 5_000 + "\n",
    "256 KiB of dense YAML (largest file read)": dense(256 * 1024 - 64),
    "prose {{ 9**(9**9) }}": prose("{{ 9**(9**9) }}"),
    "prose {{ 'x' * 10**9 }}": prose("{{ 'x' * 10**9 }}"),
    "prose nested range loops": prose(
        "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"
    ),
}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, text in INPUTS.items():
            policy = Path(folder) / "p.yaml"
            policy.write_text(text, encoding="utf-8")
            start = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-c", _CHILD, "validate", str(policy)], capture_output=True, text=True, timeout=120
            )
            elapsed = time.perf_counter() - start
            rss = next((int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("maxrss")), 0)
            answer = next((line for line in result.stderr.splitlines() if line.startswith("Error")), "valid")
            answer = answer.replace(str(policy), "p.yaml")
            print(f"{name:45} {elapsed * 1000:6.0f} ms {rss / 1024:6.0f} MB  exit {result.returncode}  {answer[:90]}")


if __name__ == "__main__":
    main()
