"""A llama-cpp-python that runs on any x86-64 with AVX2, checked on this CPU before it is trusted.

pip's default build of llama-cpp-python compiles llama.cpp with -march=native (GGML_NATIVE). On CPUs
with AMX (Sapphire Rapids and later) that turns on llama.cpp's AMX code, which GCC 12 miscompiles:
the embedded model dies of SIGILL. And pip's wheel cache ignores CMAKE_ARGS, so a machine that
built the bad wheel once reinstalls it byte for byte. So:

    python -m gepa_jupyter.models.build            # check the embedded model here; rebuild portably if it crashes
    python -m gepa_jupyter.models.build --rebuild  # rebuild portably now (no pip cache), then check
    python -m gepa_jupyter.models.build --check    # only check (exit 1 if it crashes)

scripts/setup.sh runs this file as a plain script before the package is installed
(`python gepa_jupyter/models/build.py --wheel-only`): it builds the portable wheel once into a
folder of its own (never pip's cache), keyed by the flags, and later setups reuse it.
Runs with the standard library alone; the check starts the model as users do (models/local.py).
"""

import argparse
import hashlib
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile

_logger = logging.getLogger(__name__)

PACKAGE = "llama-cpp-python"
DEFAULT_REQUIREMENT = "llama-cpp-python>=0.3.16,<0.4"
# llama.cpp's CPU code for any x86-64 with AVX2 (2013 on): no -march=native, so no AMX or AVX-512 path
# chosen for the build machine. Elsewhere (arm64) only the native switch goes.
X86_FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
OTHER_FLAGS = "-DGGML_NATIVE=OFF"


def portable_cmake_args() -> str:
    return X86_FLAGS if platform.machine().lower() in ("x86_64", "amd64") else OTHER_FLAGS


def wheel_dir() -> str:
    """Where the portable wheel is kept: $GEPA_JUPYTER_WHEEL_DIR, or the user's cache, keyed by the flags."""
    base = os.environ.get("GEPA_JUPYTER_WHEEL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gepa-jupyter", "wheels")
    key = hashlib.sha256(portable_cmake_args().encode()).hexdigest()[:10]
    return os.path.join(base, f"llama-portable-{key}")


def requirement() -> str:
    """The llama-cpp-python requirement of the [local] extra: installed metadata, else pyproject.toml."""
    try:
        from importlib.metadata import PackageNotFoundError, requires

        for req in requires("gepa-jupyter") or []:
            if req.startswith(PACKAGE) and "local" in req.partition(";")[2]:
                return req.partition(";")[0].strip()
    except PackageNotFoundError as e:
        _logger.debug("gepa-jupyter's metadata not found: %r", e)
    pyproject = os.path.join(os.path.dirname(__file__), "..", "..", "pyproject.toml")
    if os.path.isfile(pyproject):
        with open(pyproject, encoding="utf-8") as f:
            found = re.search(r'"(llama-cpp-python\s*[<>=!~][^"\[]*)"', f.read())
        if found:
            return found.group(1).strip()
    return DEFAULT_REQUIREMENT


def _pip(*args: str, env: dict | None = None) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, env=env)


def built_wheel(folder: str) -> str | None:
    wheels = sorted(f for f in os.listdir(folder) if f.startswith("llama_cpp_python-") and f.endswith(".whl")) \
        if os.path.isdir(folder) else []
    return os.path.join(folder, wheels[-1]) if wheels else None


def build_wheel(folder: str, fresh: bool = False) -> str:
    """The portable wheel of the newest llama-cpp-python the requirement admits, built once (minutes)."""
    if fresh and os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ, CMAKE_ARGS=portable_cmake_args(), FORCE_CMAKE="1")
    if built_wheel(folder) is None:
        print(f"building {PACKAGE} for any {platform.machine()} CPU (CMAKE_ARGS={env['CMAKE_ARGS']}); "
              "a few minutes the first time", file=sys.stderr, flush=True)
    # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and may hold a -march=native build.
    # --find-links: a wheel already built here for the newest version is reused, not rebuilt.
    _pip("wheel", "-q", "--no-deps", "--no-cache-dir", "--find-links", folder, "-w", folder, requirement(), env=env)
    wheel = built_wheel(folder)
    if wheel is None:
        raise SystemExit(f"no {PACKAGE} wheel was built in {folder}")
    return wheel


def installed_matches(wheel: str) -> bool:
    """True when the installed llama-cpp-python is that wheel, file for file (its RECORD)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        record = distribution(PACKAGE).read_text("RECORD") or ""
    except PackageNotFoundError:
        return False
    with zipfile.ZipFile(wheel) as z:
        name = next((n for n in z.namelist() if n.endswith(".dist-info/RECORD")), None)
        theirs = z.read(name).decode() if name else ""

    def files(text: str) -> set:
        return {line for line in text.splitlines() if line and ".dist-info/" not in line and "__pycache__" not in line}

    return files(record) == files(theirs)


def install(wheel: str) -> None:
    if not installed_matches(wheel):
        _pip("install", "-q", "--no-deps", "--force-reinstall", wheel)


def check() -> str | None:
    """None if the embedded model starts and writes a token here (in its own process), else why not."""
    code = ("from gepa_jupyter.models import local\n"
            "model = local.load(local.smollm2_path())\n"
            "print(model.complete([{'role': 'user', 'content': 'Say yes.'}], max_tokens=2, temperature=0.0)"
            "['usage']['completion_tokens'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {done.returncode}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gepa_jupyter.models.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the embedded model on this CPU")
    parser.add_argument("--rebuild", action="store_true", help="rebuild llama-cpp-python portably now")
    parser.add_argument("--wheel-only", action="store_true", help="only build (or reuse) the portable wheel")
    parser.add_argument("--ensure", action="store_true",
                        help="install the portable wheel if another build is installed, then check (set-up)")
    args = parser.parse_args(argv)
    folder = wheel_dir()
    if args.wheel_only:  # the last line printed is the folder to give pip as --find-links
        build_wheel(folder)
        print(folder)
        return 0
    if args.rebuild:
        install(build_wheel(folder, fresh=True))
    elif args.ensure:
        install(build_wheel(folder))
    problem = check()
    if problem is None:
        print("the embedded model runs on this CPU")
        return 0
    if args.check or args.rebuild:
        print(f"the embedded model does not run here: {problem}", file=sys.stderr)
        return 1
    print(f"the embedded model crashed on this CPU ({problem}); rebuilding llama-cpp-python with portable flags",
          file=sys.stderr, flush=True)
    install(build_wheel(folder, fresh=True))
    problem = check()
    if problem is None:
        print("the embedded model runs on this CPU")
        return 0
    print(f"the embedded model still does not run here: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
