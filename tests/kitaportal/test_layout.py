"""The project layout keeps the standard library's `platform` module importable."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_platform_folder_is_not_a_package():
    assert (REPO / "platform").is_dir()
    assert not (REPO / "platform" / "__init__.py").exists()


def test_uuid_and_stdlib_platform_import_from_the_repo_root():
    result = subprocess.run(
        [sys.executable, "-c", "import uuid, platform; print(platform.system(), uuid.uuid4())"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] in {"Linux", "Darwin", "Windows"}


def test_django_project_package_is_installed_not_path_hacked():
    import kitaportal

    assert Path(kitaportal.__file__).parent == REPO / "platform" / "kitaportal"
    assert str(REPO / "platform") not in sys.path
