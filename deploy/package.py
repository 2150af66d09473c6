"""`make package`: the deployable template and zip for one stage, checked.

    python -m deploy.package --stage prod [--out build/prod] [--no-lint]

1. builds the merge template for the stage (`deploy/template.py`);
2. runs `chalice package --merge-template` (Chalice resolves and vendors `requirements.txt`,
   copies `app.py`, `chalicelib/` and `vendor/`, where `vendor/plugins` links to `plugins/`);
3. drops what Chalice copies from the working tree and Lambda never runs: `__pycache__`
   folders, and each plugin's `tests/` (they import the test kit, which is not in the zip);
4. checks the result (`deploy/checks.py`) and lints it with cfn-lint when it is installed.

The output is `<out>/sam.json` (SAM transform) and `<out>/deployment.zip`, ready for
`aws cloudformation package` and `aws cloudformation deploy` (docs/operations.md, "Deploy to AWS").
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from deploy.checks import check_template
from deploy.template import PROJECT_DIR, build_merge_template, load_stage

DEFAULT_REGION = "us-east-1"  # `chalice package` needs one; the template itself says ${AWS::Region}
CHALICE_CLI = "import sys; from chalice.cli import main; sys.exit(main())"
CFN_LINT_CLI = "import sys; from cfnlint.runner import main; sys.exit(main())"


class PackageError(Exception):
    """Raised when packaging fails or the packaged template does not pass its checks."""


@dataclass(frozen=True)
class Packaged:
    template: Path
    zip: Path
    merge_template: Path


def run_chalice_package(stage: str, merge_template: Path, out: Path) -> None:
    env = dict(os.environ)
    if not env.get("AWS_REGION") and not env.get("AWS_DEFAULT_REGION"):
        env["AWS_DEFAULT_REGION"] = DEFAULT_REGION
    command = [
        sys.executable,
        "-c",
        CHALICE_CLI,
        "--project-dir",
        str(PROJECT_DIR),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(merge_template),
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackageError(f"chalice package failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def is_development_only(name: str) -> bool:
    """A zip entry Lambda never runs: bytecode (stale, compiled for this machine), a plugin's tests."""
    parts = name.split("/")
    plugin_tests = len(parts) > 3 and parts[0] == "plugins" and parts[2] == "tests"
    return "__pycache__" in parts or name.endswith(".pyc") or plugin_tests


def strip_bytecode(zip_path: Path) -> int:
    """Rewrite the zip without its development-only entries (``is_development_only``); returns how many."""
    kept = zip_path.with_suffix(".tmp")
    dropped = 0
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(kept, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if is_development_only(info.filename):
                dropped += 1
                continue
            target.writestr(info, source.read(info), compress_type=info.compress_type)
    kept.replace(zip_path)
    return dropped


def cfn_lint(template: Path) -> str | None:
    """cfn-lint's findings, or None when it is clean or not installed (it is a dev dependency)."""
    if importlib.util.find_spec("cfnlint") is None:
        return None
    done = subprocess.run(
        [sys.executable, "-c", CFN_LINT_CLI, str(template)], capture_output=True, text=True, check=False
    )
    return None if done.returncode == 0 else (done.stdout + done.stderr).strip()


def package(stage: str, out: Path, *, lint: bool = True) -> Packaged:
    merge_template = out.with_name(f"{out.name}.merge.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out)
    merge_template.write_text(json.dumps(build_merge_template(load_stage(stage)), indent=2) + "\n")
    run_chalice_package(stage, merge_template, out)
    template, zip_path = out / "sam.json", out / "deployment.zip"
    strip_bytecode(zip_path)
    problems = check_template(json.loads(template.read_text()))
    if problems:
        raise PackageError("the packaged template fails its checks:\n  " + "\n  ".join(problems))
    if lint:
        findings = cfn_lint(template)
        if findings:
            raise PackageError(f"cfn-lint:\n{findings}")
    return Packaged(template=template, zip=zip_path, merge_template=merge_template)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.package", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, help="default: build/<stage>")
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    args = parser.parse_args(argv)
    out = args.out or PROJECT_DIR / "build" / args.stage
    try:
        packaged = package(args.stage, out, lint=not args.no_lint)
    except PackageError as exc:
        print(exc, file=sys.stderr)
        return 1
    size_mib = packaged.zip.stat().st_size / 2**20
    print(f"{packaged.template}\n{packaged.zip} ({size_mib:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
