"""The README stays a short page, the docs site builds with no warning, every relative link and
image resolves, and every benchmark figure the docs quote is the one in its bench/results/*.json."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")


def _slug(heading):
    """An anchor as mkdocs' toc extension makes it (and GitHub, for these headings)."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page):
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", page.read_text(), re.M)}


def _mkdocs_build(config, site):
    """`mkdocs build --strict`: its return code and its output."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent, capture_output=True, text=True, timeout=600,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin", "HOME": str(site.parent)},
    )
    return done.returncode, done.stdout + done.stderr


def test_the_readme_is_short_and_has_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200, len(readme.splitlines())
    assert "bash scripts/quickstart.sh" in readme and "bash scripts/test.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text(), "CI runs the README's test command"
    assert "](docs/images/" in readme, "the README shows the live view"


def test_every_relative_link_points_at_a_file_and_heading():
    broken = []
    for page in PAGES:
        for match in LINK.finditer(page.read_text()):
            target = match.group(1) or match.group(2)
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve()
            if not file.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken


def test_every_file_path_the_docs_name_exists():
    named = re.compile(r"`((?:gepa_jupyter/|core/|tests/|scripts/|bench/|notebooks/)[\w/.-]*\w)`")
    missing = []
    for page in PAGES:
        for path in set(named.findall(page.read_text())):
            where = ROOT / "gepa_jupyter" / path if path.startswith("core/") else ROOT / path
            artifact = path.startswith("gepa_jupyter/") and path.endswith(".json")  # a run's MLflow artifact
            if not artifact and not where.exists():
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert not missing, missing


def test_the_docs_pages_show_the_browser_tests_screenshots():
    shown = "".join(page.read_text() for page in DOCS.glob("*.md"))
    for image in sorted((DOCS / "images").glob("*.png")):
        assert f"images/{image.name}" in shown, f"{image.name} is in no docs page"


def _at(data, path):
    for key in path.split("."):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


# (results file, key in it, how the page writes it): every figure docs/speed.md quotes.
FIGURES = [
    ("speed.json", "vs_mlflow.ratio", "**{:.3f}**"),
    ("speed.json", "vs_mlflow.paired_ratio_median", "paired median {}"),
    ("speed.json", "vs_mlflow.ours_seconds.2", "{} s vs"),
    ("speed.json", "vs_mlflow.mlflow_seconds.0", "vs {} s"),
    ("speed.json", "vs_mlflow.traces_all_seconds", "{} s with `traces=\"all\"`"),
    ("speed.json", "vs_mlflow.traces_all_over_off", "(x{:.1f}:"),
    ("speed.json", "cached_rerun.seconds", "**{:.2f} s**"),
    ("speed.json", "cached_rerun.ms_per_metric_call", "({} ms per metric call)"),
    ("speed.json", "served.ratio", "**{}**"),
    ("speed.json", "served.seconds", "({:.1f} s vs"),
    ("speed.json", "served.ideal_seconds", "vs {:.1f} s)"),
    ("speed.json", "first_output.median_s", "**{} s**"),
    ("speed.json", "update.median_ms", "{} ms"),
    ("speed.json", "memory.ratio", "| {} ("),
    ("speed.json", "bench_seconds", "{} s;"),
    ("first_row.json", "first_row_median_s", "**{} s**"),
    ("first_row.json", "warm_first_row_median_s", "(warm: {} s,"),
    ("first_row.json", "ratio_to_warm", "ratio **{}**)"),
    ("first_row.json", "load_ext_cell_median_s", "| {} s |"),
    ("first_row.json", "longest_unchanged_max_s", "**{} s**"),
    ("first_row.json", "kernels", "medians of {} fresh kernels"),
    ("local.json", "throughput.ours_tokens_per_s", "{} tokens/s"),
    ("local.json", "throughput.raw_tokens_per_s", "against {} for raw"),
    ("local.json", "throughput.ratio", "(ratio {},"),
    ("local.json", "throughput.median_pair_ratio", "median pair ratio {};"),
    ("local.json", "short_answer.ratio", "at {} of"),
    ("local.json", "parallel.one_worker_seconds", "took {} s"),
    ("local.json", "parallel.raw_seconds", "against {} s raw"),
    ("local.json", "parallel.two_workers_seconds", "and {} s with"),
    ("local.json", "parallel.two_workers_speedup", "(speed-up {:.2f}"),
    ("local.json", "start_seconds", "in {:.1f} s."),
    ("models.json", "reflection.small_model_reflector.heldout_best.0", "from 0.0 to {},"),
    ("models.json", "reflection.small_model_reflector.heldout_best.1", "\n{}"),
    ("models.json", "reflection.small_model_reflector.heldout_best_mean", "(mean {})"),
    ("models.json", "reflection.runs.0.seconds", "instead of {} s"),
    ("workloads.json", "seconds", "{} s)"),
    ("workloads.json", "stop_latency_5s_model.median_s", "median of {} s"),
    ("workloads.json", "stop_latency_5s_model.max_s", "at most {:.2f} s with"),
    ("workloads.json", "stop_latency_2000_rows.median_s", "median of {} s"),
    ("workloads.json", "stop_latency_2000_rows.max_s", "at most {:.2f} s on"),
    ("workloads.json", "budget.0.metric_calls", "spent {}\nmetric calls"),
    ("workloads.json", "budget.2.metric_calls", "and {} on 2,000 rows"),
    ("workloads.json", "budget.0.ratio", "(ratios {} /"),
    ("workloads.json", "budget.2.ratio", "/ {}, goal"),
    ("exit.json", "stop_of_a_paused_run.status_median_s", "median of **{} s**"),
    ("exit.json", "stop_of_a_paused_run.ended_median_s", "of **{} s**"),
    ("exit.json", "stop_of_a_paused_run.ended_max_s", "(at most {} s;"),
    ("exit.json", "exit_after_last_line.baseline_bare_imports.median_s", "\n{} s to exit"),
    ("exit.json", "exit_after_last_line.finish.median_s", "| finished | {} s |"),
    ("exit.json", "exit_after_last_line.pause.median_s", "| left paused | {} s |"),
    ("exit.json", "exit_after_last_line.refused.median_s", "the first going on | {} s |"),
    ("test_durations.json", "summary.tests", "({} tests,"),
    ("test_durations.json", "summary.wall_seconds", "{} s of wall time"),
    ("test_durations.json", "summary.seconds", "own seconds {} s"),
    ("estimate.json", "bench_seconds", "`bench/results/estimate.json`, {} s,"),
    ("estimate.json", "served.calls_ratio_median", "served **{}**"),
    ("estimate.json", "served.model_calls_ratio_median", "served {} |"),
    ("estimate.json", "served.time_ratio_median", "served **{}** |"),
    ("estimate.json", "served_limit.calls_ratio_median", "limited **{}**"),
    ("estimate.json", "served_limit.model_calls_ratio_median", "limited {} |"),
    ("estimate.json", "served_limit.time_ratio_median", "limited **{}** |"),
    ("estimate.json", "embedded.calls_ratio_median", "embedded **{}**"),
    ("estimate.json", "embedded.model_calls_ratio_median", "embedded {} |"),
    ("estimate.json", "embedded.time_ratio_median", "embedded **{}** |"),
]


def test_every_benchmark_figure_is_the_one_in_its_json():
    page = (DOCS / "speed.md").read_text()
    wrong = []
    for name, key, form in FIGURES:
        value = _at(json.loads((ROOT / "bench" / "results" / name).read_text()), key)
        if form.format(value) not in page:
            wrong.append(f"{name} {key} = {value}: docs/speed.md has no {form.format(value)!r}")
    assert not wrong, wrong


@pytest.mark.slow
def test_the_docs_site_builds_strict_without_warnings(tmp_path):
    code, output = _mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert code == 0 and "WARNING" not in output, output
    assert (tmp_path / "site" / "magic" / "index.html").exists()
    assert (tmp_path / "site" / "quickstart" / "index.html").exists(), "the notebook is rendered"
    assert "fonts.googleapis" not in (tmp_path / "site" / "index.html").read_text(), "no web fonts"


@pytest.mark.slow
def test_a_broken_link_fails_the_docs_build(tmp_path):
    shutil.copytree(DOCS, tmp_path / "docs")  # follows the notebook's symlink
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with open(tmp_path / "docs" / "magic.md", "a") as page:
        page.write("\nSee [the missing page](missing.md).\n")
    code, output = _mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert code != 0 and "missing.md" in output, output
