"""`tsc --noEmit` passes on each fixture app after `git apply` of its scan-app patch.

What tsc needs (@clerk/nextjs, next, react and their types, next-auth 4 and 5 for what the patch
leaves, drizzle/postgres/zod/@t3-oss/env-nextjs for the t3 app) is pinned by
tests/typecheck/package-lock.json and installed once with `npm ci` from the npm registry into
tests/typecheck/.cache/<sha of the lockfile>/ (reused by later runs; CI installs it once per run).
Each patched app gets a node_modules of symlinks into that install; a next-auth v5 app (its
package.json says `5.x` or `beta`) sees `next-auth` -> the `next-auth-v5` alias.

Locally the test skips, saying why, when node/npm are missing or the install fails; in CI
(CI=true) it fails instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from console.appscan import scan_app
from console.appscan.patch import build_patch

HERE = Path(__file__).resolve().parents[1]
APPS = HERE / "fixtures" / "apps"
TYPECHECK = HERE / "typecheck"
PATCH_APPS = ["nextauth-example", "pages-router", "t3-app", "half-migrated"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"CI: {reason} (the type check must run in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("node/npm not found: cannot install what tsc needs")
    lock = (TYPECHECK / "package-lock.json").read_bytes()
    key = hashlib.sha256(lock + (TYPECHECK / "package.json").read_bytes()).hexdigest()[:16]
    target = TYPECHECK / ".cache" / key
    done = target / "node_modules" / ".installed"
    if not done.exists():
        staging = TYPECHECK / ".cache" / f"tmp-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        shutil.copy(TYPECHECK / "package.json", staging)
        shutil.copy(TYPECHECK / "package-lock.json", staging)
        run = subprocess.run(
            [npm, "ci", "--omit=optional", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging, capture_output=True, text=True, timeout=600,
        )
        if run.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            _unavailable("npm ci failed: " + (run.stderr.strip().splitlines() or ["?"])[-1])
        (staging / "node_modules" / ".installed").write_text("ok\n")
        try:
            staging.rename(target)  # atomic: a concurrent run either sees all of it or none
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another run got there first
    return target / "node_modules"


def _link_node_modules(app_dir: Path, cache: Path) -> None:
    deps = json.loads((app_dir / "package.json").read_text()).get("dependencies", {})
    spec = str(deps.get("next-auth", ""))
    v5 = spec.startswith(("5", "^5", "~5", "beta"))
    nm = app_dir / "node_modules"
    nm.mkdir()
    for entry in cache.iterdir():
        if entry.name in (".bin", ".installed", "next-auth-v5", ".package-lock.json"):
            continue
        source = cache / "next-auth-v5" if entry.name == "next-auth" and v5 else entry
        (nm / entry.name).symlink_to(source, target_is_directory=True)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd,
                   check=True, capture_output=True)


@pytest.mark.slow
@pytest.mark.parametrize("app", PATCH_APPS)
def test_patched_app_type_checks(app, node_modules, tmp_path):
    if shutil.which("git") is None:
        _unavailable("git not found")
    work = tmp_path / app
    shutil.copytree(APPS / app, work)
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "before")
    patch = build_patch(scan_app(work))
    diff = tmp_path / "p.diff"
    patch.write(diff)
    _git(work, "apply", str(diff))
    _link_node_modules(work, node_modules)
    tsc = node_modules / "typescript" / "bin" / "tsc"
    run = subprocess.run([shutil.which("node") or "node", str(tsc), "--noEmit", "-p", "."], cwd=work,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"tsc on the patched {app}:\n{run.stdout[-4000:]}{run.stderr[-2000:]}"


def test_the_type_check_can_fail(node_modules, tmp_path):
    """The check is real: a type error in a patched app makes tsc exit non-zero."""
    work = tmp_path / "t3"
    shutil.copytree(APPS / "t3-app", work)
    (work / "src" / "broken.ts").write_text('export const n: number = "not a number";\n')
    _link_node_modules(work, node_modules)
    tsc = node_modules / "typescript" / "bin" / "tsc"
    run = subprocess.run([shutil.which("node") or "node", str(tsc), "--noEmit", "-p", "."], cwd=work,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "broken.ts" in run.stdout


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
