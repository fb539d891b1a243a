"""Test matrix: Python 3.11 + Django 5.2 and Python 3.12 + the newest Django 6.x.

``nox`` runs every session; ``nox -s tests-3.11`` one of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

nox.options.sessions = ["lint", "js", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

MATRIX = [("3.11", "Django>=5.2,<5.3"), ("3.12", "Django>=6.0,<7")]


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
    session.run("node", "--test", "tests/js/", external=True)


@nox.session(python=interpreter("3.11"))
def docs(session: nox.Session) -> None:
    if not os.path.exists("mkdocs.yml"):
        session.skip("no mkdocs.yml yet")
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp() + "/site")


@nox.session(name="tests")
@nox.parametrize("python,django", [(interpreter(v), d) for v, d in MATRIX], ids=["3.11", "3.12"])
def tests(session: nox.Session, django: str) -> None:
    session.install("-e", ".[test]", django)
    session.run("python", "-m", "django", "--version")
    session.run("pytest", *session.posargs)
