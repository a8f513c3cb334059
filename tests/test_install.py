"""The built wheel, installed into a fresh virtualenv, is one import name (`crosswalk`),
ships its default config, and runs `crosswalk check` and `crosswalk demo` from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)], check=True, timeout=300)
    (built,) = out.glob("crosswalk_router-*.whl")
    return built


def _fresh_venv(wheel: Path, where: Path, *, without: tuple[str, ...] = ()) -> Path:
    """A fresh venv with only the wheel installed. Its dependencies are borrowed from this
    venv's site-packages (links to each installed distribution, less `without`, found
    through a .pth line), so nothing is downloaded and this checkout's editable finder is
    not visible in it."""
    env_dir = where / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    borrowed = where / "borrowed"
    borrowed.mkdir()
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        name = entry.name.lower()
        if "editable" in name or name.startswith(("crosswalk", "_crosswalk")) or name.endswith(".pth"):
            continue
        if any(name == w or name.startswith((w + "-", w + ".", w + "_")) for w in without):
            continue
        (borrowed / entry.name).symlink_to(entry)
    (site / "borrowed_deps.pth").write_text(f"{borrowed}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=300)
    return env_dir


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fresh_venv(wheel, tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def lean(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lean core: neither litellm nor redis is installed."""
    return _fresh_venv(wheel, tmp_path_factory.mktemp("lean"), without=("litellm", "redis"))


def test_wheel_installs_one_top_level_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"crosswalk"}
    assert "crosswalk/config/default.yaml" in names
    assert "crosswalk/router/sdk.py" in names and "crosswalk/policies/health.py" in names and "crosswalk/providers/classify.py" in names
    assert not any(n.startswith("crosswalk/router/crosswalk/") for n in names)


def _run(installed: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CROSSWALK_CONFIG")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_users_own_router_module_is_not_shadowed(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "router.py").write_text("WHO = 'the app'\n")
    (tmp_path / "providers").mkdir()
    (tmp_path / "providers" / "__init__.py").write_text("WHO = 'the app'\n")
    code = "import router, providers, crosswalk; from crosswalk import Router; print(router.WHO, providers.WHO, crosswalk.__file__, sep='|')"
    done = _run(installed, [str(installed / "bin" / "python"), "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    app_router, app_providers, where = done.stdout.strip().split("|")
    assert (app_router, app_providers) == ("the app", "the app")
    assert where.startswith(str(installed))


def test_check_and_demo_run_from_any_folder(installed: Path, tmp_path: Path) -> None:
    check = _run(installed, [str(installed / "bin" / "crosswalk"), "check"], tmp_path)
    assert check.returncode == 0, check.stderr
    assert "default.yaml: OK" in check.stdout and str(installed) in check.stdout
    demo = _run(installed, [str(installed / "bin" / "crosswalk"), "demo", "--pace", "0"], tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "draft" in demo.stdout


def test_lean_core_runs_without_litellm_or_redis(lean: Path, tmp_path: Path) -> None:
    done = _run(lean, [str(lean / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('litellm'), u.find_spec('redis'))"], tmp_path)
    assert done.stdout.split() == ["None", "None"], done.stderr
    demo = _run(lean, [str(lean / "bin" / "crosswalk"), "demo", "--pace", "0"], tmp_path)
    assert demo.returncode == 0, demo.stderr


def test_extras_are_named_when_a_config_needs_them(lean: Path, tmp_path: Path) -> None:
    config = tmp_path / "extras.yaml"
    config.write_text(
        "providers:\n  claude: {kind: litellm, model: anthropic/claude-sonnet-4-5}\n"
        "steps:\n  draft: {providers: [claude]}\n"
        "state: {backend: redis, url: 'redis://127.0.0.1:6379/0'}\n"
    )
    done = _run(lean, [str(lean / "bin" / "crosswalk"), "check", str(config)], tmp_path)
    assert done.returncode == 1
    assert "providers.claude.kind: 'litellm' needs the litellm extra; pip install 'crosswalk-router[litellm]'" in done.stderr
    assert "state.backend: 'redis' needs the redis extra; pip install 'crosswalk-router[redis]'" in done.stderr
