"""CLI start-up: ``jura-trust verify SIG --document FILE --policy internal`` as a process.

Reports the CPU time (user + system, of the child processes) of the whole
command, as a median over ``--runs`` runs, against the floor measured in the
same run: a bare ``python -c pass`` of the same interpreter. Target (issue
10, item 2): at most 5x. CPU time rather than wall time, so that other
processes on the machine do not count; the load average is printed beside.

Also reports ``import jura_trust.cli`` + the verify command's module alone,
and the whole process for ``--policy key`` with a publications file (which
needs X.509 and so loads ``cryptography``), for comparison.

    python bench/bench_cli_startup.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "ksi"
SIG = VECTORS / "signatures" / "valid" / "ok-sig-2014-04-30.1.ksig"


def cpu_of(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CHILD_ENV
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


#: The children's environment: as installed (pip writes the bytecode cache at
#: install time), so ``PYTHONDONTWRITEBYTECODE`` is dropped: with it set,
#: every run of a source checkout compiles every module again (about 40 ms
#: here), which is no user's start-up.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_cpu(argv: list[str], runs: int) -> float:
    cpu_of(argv)  # warm the page cache and the bytecode cache
    return statistics.median(cpu_of(argv) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "document.txt"
        doc.write_bytes(b"not the signed document: the internal policy still runs every rule\n")
        env_home = Path(tmp) / "home"
        CHILD_ENV["JURA_TRUST_HOME"] = str(env_home)
        CHILD_ENV["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        verify = [py, "-m", "jura_trust.cli", "verify", str(SIG), "--document", str(doc)]
        floor = median_cpu([py, "-c", "pass"], args.runs)
        internal = median_cpu([*verify, "--policy", "internal"], args.runs)
        imports = median_cpu([py, "-c", "import jura_trust.cli.ksi, jura_trust.trust"], args.runs)
        key_based = median_cpu(
            [
                *verify,
                "--policy",
                "key",
                "--publications-file",
                str(VECTORS / "pubfiles" / "publications.tlv"),
                "--trust-anchor",
                str(VECTORS / "certs" / "mock.crt"),
                "--cert-constraint",
                "1.2.840.113549.1.9.1=publications@guardtime.com",
            ],
            args.runs,
        )
    figures = {
        "floor_python_c_pass_ms": round(floor * 1000, 2),
        "verify_internal_ms": round(internal * 1000, 2),
        "verify_internal_ratio": round(internal / floor, 2),
        "import_cli_ksi_and_trust_ratio": round(imports / floor, 2),
        "verify_key_with_publications_file_ratio": round(key_based / floor, 2),
        "target_verify_internal_ratio": 5.0,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "runs": args.runs,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:<42} {value}")


if __name__ == "__main__":
    main()
