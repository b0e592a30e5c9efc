"""environment.yml, pyproject.toml and requirements.lock pin the same dependencies."""

import tomllib

import yaml

from stepsize.chapters import REPO_ROOT


def _pyproject_deps():
    return sorted(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(p for p in pip if not p.startswith("-e")) == _pyproject_deps()


def test_lock_agrees_with_pins():
    lock = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line:
            name, ver = line.split("==")
            lock[name.lower().replace("_", "-")] = ver.strip()
    for dep in _pyproject_deps():
        name, ver = dep.split("==")
        assert lock.get(name.lower()) == ver, f"{name}: pyproject {ver}, lock {lock.get(name.lower())}"
