"""``python -m benchmarks.footprint``: what the serving image adds to its base, without Docker.

Installs a requirements file (default requirements/serve.txt, what the image's serve stage
installs) into a fresh virtual environment, compiled to bytecode as pip does in the image, and
reports the installed size per package, leaving out pip and setuptools (the python base image
already ships them). Then it starts ``python -m serving`` on that environment with the repository
code, ``--starts`` times, and reports the seconds from process start to the first ``/health``
answer: the image's start-up minus the container runtime's own overhead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Final

from benchmarks.perf import HOST, free_port

ROOT: Final = Path(__file__).resolve().parent.parent
BASE_IMAGE_PACKAGES: Final = ("pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources")


def install(requirements: Path, venv: Path) -> Path:
    """A venv with ``requirements`` installed and byte-compiled; returns its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    uv = [sys.executable, "-m", "uv", "pip", "install", "--python", str(python)]
    command = [*uv, "--quiet", "--compile-bytecode", "-r", str(requirements)]
    subprocess.run(command, check=True)
    return next((venv / "lib").glob("python3*/site-packages"))


def sizes(site_packages: Path) -> dict[str, int]:
    """Bytes per top-level entry of site-packages (a package, its .libs, its dist-info)."""
    result: dict[str, int] = {}
    for entry in site_packages.iterdir():
        name = entry.name.split("-")[0].removesuffix(".libs").removesuffix(".py").lower()
        files = entry.rglob("*") if entry.is_dir() else [entry]
        result[name] = result.get(name, 0) + sum(f.stat().st_size for f in files if f.is_file())
    return result


def start_up_seconds(python: Path, model_dir: Path) -> float:
    """Seconds from spawning ``python -m serving`` to its first 200 on /health."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FEEDRANK_MODEL_DIR": str(model_dir)}
    env["OPENBLAS_NUM_THREADS"] = "1"
    command = [str(python), "-m", "serving", "--host", HOST, "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"error: {' '.join(command)} exited {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(timeout=15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements/serve.txt")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--starts", type=int, default=5, help="start-ups to time (0: none)")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="feedrank-footprint-"))
    try:
        site_packages = install(args.requirements.resolve(), scratch / "venv")
        by_package = {
            name: size
            for name, size in sizes(site_packages).items()
            if name not in BASE_IMAGE_PACKAGES
        }
        total = sum(by_package.values())
        lines = [f"{args.requirements.name}: {total / 1e6:.0f} MB installed (byte-compiled), "
                 "pip and setuptools left out (the base image has them)"]  # fmt: skip
        for name, size in sorted(by_package.items(), key=lambda item: -item[1])[:10]:
            lines.append(f"  {name:<20}{size / 1e6:>7.1f} MB")
        if args.starts:
            python = scratch / "venv" / "bin" / "python"
            times = [start_up_seconds(python, args.model_dir) for _ in range(args.starts)]
            lines.append(
                f"python -m serving to first /health 200: median {statistics.median(times):.2f} s "
                f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} starts)"
            )
        sys.stdout.write("\n".join(lines) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
