"""Test matrix: the oldest and the newest of what setup.cfg claims, and the built wheel.

``nox`` runs the default sessions (what CI runs): lint, js, docs, tests-3.11 (Python 3.11 with the
oldest supported Django, Channels, channels-redis, redis-py, DRF and drf-spectacular), tests-3.13
(Python 3.13 with the newest of everything) and wheel (Python 3.12: build the sdist and the wheel,
install the wheel in a fresh virtualenv, run the tests from the unpacked sdist against it).
``nox -s "tests(3.12)"`` runs Python 3.12 with Django 6.0; ``nox -s "tests(3.11)" -- -k schema``
passes arguments to pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import nox

nox.options.sessions = ["lint", "js", "docs", "tests(3.11)", "tests(3.13)", "wheel"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

#: The oldest release of each dependency setup.cfg claims to support (keep the two in step).
OLDEST = [
    "Django==5.2.*",
    "channels==4.2.2",
    "channels-redis==4.3.*",
    "redis==5.0.*",
    "daphne==4.2.2",
    "autobahn==26.7.1",
    "djangorestframework==3.15.*",
    "drf-spectacular==0.27.*",
    "msgpack==1.0.*",
    "zstandard==0.20.*",
]
#: python -> what pip installs next to ".[test]"; every version but the oldest is upgraded eagerly.
MATRIX = {
    "3.11": OLDEST,
    "3.12": ["Django>=6.0,<6.1"],
    "3.13": ["Django>=6.0,<6.1"],
}


def interpreter(version: str) -> str:
    """Return a usable python<version>, looking through pyenv when PATH has only shims."""
    exe = shutil.which(f"python{version}")
    if exe and subprocess.run([exe, "-c", "0"], capture_output=True).returncode == 0:
        return exe
    if shutil.which("pyenv"):
        prefix = subprocess.run(["pyenv", "prefix", version], capture_output=True, text=True)
        if prefix.returncode == 0:
            return os.path.join(prefix.stdout.strip().splitlines()[-1], "bin", f"python{version}")
    return f"python{version}"


@nox.session(python=interpreter("3.11"))
def lint(session: nox.Session) -> None:
    session.install("-e", ".[lint,test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=False)
def js(session: nox.Session) -> None:
    """The JS client's tests, including the npm package (npm ci installs esbuild)."""
    session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    session.run("node", "--test", "tests/js/", external=True)


@nox.session(python=interpreter("3.11"))
def docs(session: nox.Session) -> None:
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp() + "/site")


@nox.session(name="tests")
@nox.parametrize(
    "python,requirements", [(interpreter(v), r) for v, r in MATRIX.items()], ids=list(MATRIX)
)
def tests(session: nox.Session, requirements: list[str]) -> None:
    upgrade = [] if requirements is OLDEST else ["--upgrade", "--upgrade-strategy", "eager"]
    session.install(*upgrade, "-e", ".[test]", *requirements)
    session.run("python", "-m", "pip", "freeze", silent=False)
    session.run("pytest", *session.posargs)


@nox.session(python=interpreter("3.12"), reuse_venv=False)
def wheel(session: nox.Session) -> None:
    """Build sdist and wheel, install the wheel (not editable), test it from the unpacked sdist."""
    tmp = Path(session.create_tmp())
    dist, unpacked = tmp / "dist", tmp / "sdist"
    for path in (dist, unpacked):
        shutil.rmtree(path, ignore_errors=True)
    session.install("build")
    # python -m build makes the sdist, then the wheel from the sdist: a file missing from the sdist
    # fails here or in the tests below.
    session.run("python", "-m", "build", "--outdir", str(dist), ".")
    [wheel_file] = dist.glob("*.whl")
    [sdist_file] = dist.glob("*.tar.gz")
    # The newest tested Django: the stats' native Redis layout is only used on tested releases.
    session.install(f"{wheel_file}[test]", *MATRIX["3.13"])
    with tarfile.open(sdist_file) as archive:
        archive.extractall(unpacked, filter="data")
    [root] = unpacked.iterdir()
    # The tests import the installed package. Without its __init__.py the sdist's reznet_ws/ is at
    # most a namespace portion, which Python passes over for the regular package in site-packages;
    # the files stay for the tests that read them (the JS client, the logger names).
    (root / "reznet_ws" / "__init__.py").unlink()
    # The browser tests serve the JS codecs (@msgpack/msgpack, fzstd) from node_modules, which
    # the js session installed in the checkout (npm ci): the sdist does not ship them.
    modules = Path(__file__).resolve().parent / "node_modules"
    if modules.is_dir():
        (root / "node_modules").symlink_to(modules, target_is_directory=True)
    session.chdir(root)
    where = "import reznet_ws, sysconfig as s; print(reznet_ws.__file__, s.get_paths()['purelib'])"
    module, purelib = str(session.run("python", "-c", where, silent=True)).split()
    if not module.startswith(purelib):
        session.error(f"reznet_ws imported from {module}, not from the installed wheel")
    session.run("pytest", *session.posargs, env={"REZNET_WS_TEST_INSTALLED": "1"})
