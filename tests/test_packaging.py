"""Distribution metadata: what setup.cfg claims is what noxfile.py tests and what gets shipped."""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import reznet_ws

ROOT = Path(__file__).resolve().parent.parent
#: The imported package: the checkout, or site-packages in the nox "wheel" session.
PACKAGE = Path(reznet_ws.__file__).resolve().parent


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _noxfile_literal(name: str) -> ast.expr:
    for node in ast.parse((ROOT / "noxfile.py").read_text()).body:
        targets = [getattr(t, "id", None) for t in getattr(node, "targets", [])]
        if isinstance(node, ast.Assign) and targets == [name]:
            return node.value
    raise AssertionError(f"noxfile.py has no {name} = ...")


def _tested_pythons() -> list[str]:
    matrix = _noxfile_literal("MATRIX")
    assert isinstance(matrix, ast.Dict)
    return [ast.literal_eval(key) for key in matrix.keys if key is not None]


def _floors() -> dict[str, Version]:
    """Lowest version of each requirement in install_requires and the runtime extras."""
    options = _setup_cfg()
    lines = _lines(options["options"]["install_requires"])
    for extra in ("redis", "schema", "prometheus", "msgpack", "zstd"):
        lines += _lines(options["options.extras_require"][extra])
    floors = {}
    for line in lines:
        requirement = Requirement(line)
        [floor] = [s.version for s in requirement.specifier if s.operator == ">="]
        floors[requirement.name.lower()] = Version(floor)
    return floors


def _classifiers(prefix: str) -> set[str]:
    """The versions of the classifiers ``prefix + "X.Y"``."""
    classifiers = _lines(_setup_cfg()["metadata"]["classifiers"])
    versions = {c.removeprefix(prefix) for c in classifiers if c.startswith(prefix)}
    return {v for v in versions if re.fullmatch(r"\d+\.\d+", v)}


def test_python_versions_are_the_tested_ones() -> None:
    tested = _tested_pythons()
    assert _classifiers("Programming Language :: Python :: ") == set(tested)
    oldest = min(tested, key=Version)
    assert _setup_cfg()["options"]["python_requires"] == f">={oldest}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + oldest.replace(".", "")
    assert pyproject["tool"]["mypy"]["python_version"] == oldest


def test_oldest_session_pins_the_claimed_floors() -> None:
    oldest = ast.literal_eval(_noxfile_literal("OLDEST"))
    floors = _floors()
    pinned = {}
    for line in oldest:
        requirement = Requirement(line)
        [spec] = requirement.specifier
        assert spec.operator == "=="
        pinned[requirement.name.lower()] = Version(spec.version.removesuffix(".*"))
    for name in ("django", "channels", "channels-redis", "redis"):
        assert name in pinned, f"the oldest session does not pin {name}"
    assert {name: floors[name] for name in pinned} == pinned
    assert floors["channels"] >= Version("4.2.2")  # require_valid_*_name(); channels-redis 4.3


def test_django_classifiers_start_at_the_floor() -> None:
    versions = sorted(_classifiers("Framework :: Django :: "), key=Version)
    assert versions == ["5.2", "6.0"]
    assert _floors()["django"] == Version(versions[0])


def test_package_data_patterns_all_match_shipped_files() -> None:
    patterns = _lines(_setup_cfg()["options.package_data"]["reznet_ws"])
    for pattern in patterns:
        assert [p for p in PACKAGE.glob(pattern) if p.is_file()], f"{pattern} matches nothing"
    for template in ("templates/admin/reznet_ws/metrics.html", "static/reznet_ws/reznet-ws.js"):
        assert (PACKAGE / template).is_file()


def test_license_and_project_urls() -> None:
    metadata = _setup_cfg()["metadata"]
    assert metadata["license"] == "BSD-3-Clause"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "reznet-ws contributors" in text
    urls = dict(line.split(" = ", 1) for line in _lines(metadata["project_urls"]))
    assert set(urls) == {"Documentation", "Source", "Changelog", "Issues"}
    assert all(url.startswith("https://github.com/reznet/reznet-ws") for url in urls.values())


def test_npm_package_is_the_static_client_at_the_python_version() -> None:
    manifest = json.loads((ROOT / "package.json").read_text())
    assert manifest["name"] == "reznet-ws"
    assert manifest["version"] == reznet_ws.__version__
    assert manifest["license"] == _setup_cfg()["metadata"]["license"]
    assert manifest["type"] == "module"
    client = "reznet_ws/static/reznet_ws/reznet-ws.js"
    types = "reznet_ws/static/reznet_ws/reznet-ws.d.ts"
    assert manifest["exports"]["."] == {"types": f"./{types}", "default": f"./{client}"}
    assert manifest["types"] == f"./{types}"
    # The client, the modules it imports (reznet-ws-*.js, next to it), its declarations.
    folder = (ROOT / client).parent
    modules = [str(p.relative_to(ROOT)) for p in folder.glob("reznet-ws-*.js")]
    assert sorted(manifest["files"]) == sorted([client, *modules, types])
    assert (ROOT / client).is_file() and (ROOT / types).is_file()


def test_the_wheel_session_tests_the_installed_package() -> None:
    if os.environ.get("REZNET_WS_TEST_INSTALLED") != "1":
        pytest.skip("only in the nox 'wheel' session (REZNET_WS_TEST_INSTALLED=1)")
    assert PACKAGE.is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())
    assert not (ROOT / "reznet_ws" / "__init__.py").exists()
