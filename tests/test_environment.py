"""environment.yml, pyproject.toml and requirements.lock pin the same dependencies."""

import re
import tomllib

import yaml
from stepsize.book.registry import REPO_ROOT


def _pyproject_deps():
    return sorted(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(p for p in pip if not p.startswith("-")) == _pyproject_deps()


def test_environment_yml_installs_through_the_lock():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    # conda runs pip from the folder of environment.yml, where requirements.lock is
    assert "-c requirements.lock" in pip and (REPO_ROOT / "requirements.lock").is_file()
    assert pip.index("-c requirements.lock") < pip.index("-e .")


def test_lock_agrees_with_pins():
    lock = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line:
            name, ver = line.split("==")
            lock[name.lower().replace("_", "-")] = ver.strip()
    for dep in _pyproject_deps():
        name, ver = dep.split("==")
        assert lock.get(name.lower()) == ver, f"{name}: pyproject {ver}, lock {lock.get(name.lower())}"


def _lock() -> dict[str, str]:
    out = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, ver = line.split("==")
            out[_canon(name)] = ver.strip()
    return out


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_says_why_it_has_no_hashes():
    text = (REPO_ROOT / "requirements.lock").read_text()
    assert "--hash=" in text or re.search(r"^# No hashes.*\n(#.*\n)*", text, re.MULTILINE)


def _closure() -> dict[str, str]:
    """Every distribution the pyproject dependencies pull in (from the installed metadata)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo = [(Requirement(d), frozenset()) for d in _pyproject_deps()]
    done = set()
    while todo:
        req, _ = todo.pop()
        key = (_canon(req.name), frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            raise AssertionError(f"{req.name} is required but not installed (run `make env`)") from None
        seen[_canon(req.name)] = dist.version
        for r in dist.requires or []:
            sub = Requirement(r)
            envs = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(e) for e in envs):
                todo.append((sub, frozenset()))
    return seen


def test_lock_is_exactly_what_the_dependencies_install():
    lock, installed = _lock(), _closure()
    unused = sorted(set(lock) - set(installed))
    assert not unused, f"in requirements.lock but nothing installs them: {unused}"
    # pip, setuptools and wheel come with the venv itself (pip freeze leaves them out too)
    missing = sorted(set(installed) - set(lock) - {"pip", "setuptools", "wheel"})
    assert not missing, f"installed by the dependencies but not pinned in requirements.lock: {missing}"
    wrong = {n: (lock[n], v) for n, v in installed.items() if n in lock and lock[n] != v}
    assert not wrong, f"lock != installed: {wrong}"
