"""The documentation: the site builds with warnings as errors, and its code samples are real.

Every ```python sample in docs/*.md and README.md is either

- taken from the example project: its first line is ``# from example_project/<file>`` and its
  lines appear in that file, in order (a ``# noqa`` comment aside); or
- run here: it is executed, then what it defines is exercised: a consumer class is connected with
  a v2 and a v1 client, ``urlpatterns`` are resolved, settings are loaded and validated
  (``REZNET_WS`` keys, the system checks, channel-layer and cache backends built, logging
  handlers and logger names), an ``application`` is checked to be a ``ProtocolTypeRouter``
  routing WebSockets. A sample headed ``# urls.py`` may leave out the usual ``admin`` /
  ``include`` / ``path`` imports; one headed ``# asgi.py`` the usual ``django_asgi_app``,
  ``websocket_urlpatterns`` (the example project's) and ``channels.routing`` names.

A sample that fits none of these fails its test: give it an exerciser here or take it from the
example project. Commands in ```console samples (``$ reznet-daphne ...``,
``$ python manage.py ...``, ``$ pip install "reznet-ws[...]"``, ``$ make ...``) are parsed by the
real parsers. The HTML sample of quickstart.md runs in a browser (tests/test_browser.py).
"""

from __future__ import annotations

import ast
import configparser
import html
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.core import checks
from django.test import override_settings

from reznet_ws.codec import SUBPROTOCOL, Codec, FieldMap
from reznet_ws.conf import DEFAULTS
from reznet_ws.consumers import OptimizedConsumerMixin
from reznet_ws.consumers.base import ConsumerBase

from .conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"^#\s*from (example_project/\S+)\s*$")
NOQA = re.compile(r"\s+#\s*noqa\b.*$")
# The pages issue 8 asks for (benchmarks.md comes with the benchmark work).
REQUIRED_PAGES = [
    "quickstart.md", "consumer.md", "protocol.md", "js-client.md", "batching-layer.md",
    "stats.md", "transport-compression.md", "settings.md", "checks.md", "deployment.md",
    "benchmarks.md", "changelog.md",
]  # fmt: skip


@dataclass(frozen=True)
class Sample:
    path: Path
    line: int
    lang: str
    code: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def source(self) -> str | None:
        """The example-project file the sample says it was taken from, if any."""
        first = self.code.lstrip("\n").split("\n", 1)[0]
        match = MARKER.match(first.strip())
        return match.group(1) if match else None


def samples(*langs: str) -> list[Sample]:
    found = []
    for path in [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]:
        text = path.read_text()
        for match in FENCE.finditer(text):
            if match.group(2) in langs:
                line = text.count("\n", 0, match.start()) + 1
                found.append(Sample(path, line, match.group(2), textwrap.dedent(match.group(3))))
    return found


PYTHON = samples("python", "py")


# ------------------------------------------------------------------------------------- the site


def mkdocs_available() -> bool:
    return importlib.util.find_spec("mkdocs") is not None


def nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return [page for item in nav for page in nav_pages(item)]


def load_mkdocs_yml() -> dict[str, Any]:
    require_or_skip(mkdocs_available(), "mkdocs (pip install -e '.[docs]')")
    import yaml  # a dependency of mkdocs

    # mkdocs.yml has no Python-specific tags, so the safe loader reads it.
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    require_or_skip(mkdocs_available(), "mkdocs (pip install -e '.[docs]')")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for page in nav_pages(load_mkdocs_yml()["nav"]):
        built = site / ("index.html" if page == "index.md" else page[:-3] + "/index.html")
        assert built.is_file(), page
    # The changelog page is CHANGELOG.md itself, included at build time.
    changelog = html.unescape(re.sub(r"<[^>]+>", "", (site / "changelog/index.html").read_text()))
    entries = [line[2:] for line in (ROOT / "CHANGELOG.md").read_text().splitlines()
               if line.startswith("- ")]  # fmt: skip
    assert entries
    for entry in entries:
        text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", entry)  # a link shows its text
        assert re.sub(r"[`*]", "", text).split(":")[0] in changelog


def test_every_page_is_in_the_nav_and_the_required_pages_exist() -> None:
    listed = nav_pages(load_mkdocs_yml()["nav"])
    assert sorted(listed) == sorted(p.name for p in DOCS.glob("*.md"))
    missing = [page for page in REQUIRED_PAGES if page not in listed]
    assert missing == [], f"pages the docs must have: {missing}"


# ---------------------------------------------------------------------------- python samples


def check_taken_from_example(sample: Sample) -> None:
    assert sample.source is not None
    path = ROOT / sample.source
    assert path.is_file(), f"{sample}: {sample.source} does not exist"
    ast.parse(sample.code)
    remaining = iter(NOQA.sub("", line).strip() for line in path.read_text().splitlines())
    for line in sample.code.strip().splitlines()[1:]:
        wanted = line.strip()
        if wanted and wanted != "...":
            assert wanted in remaining, f"{sample}: {wanted!r} is not in {sample.source} (in order)"


def run_sample(sample: Sample) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"docs_sample_{sample.path.stem}_{sample.line}"}
    if sample.code.lstrip().startswith("# urls.py"):
        from django.contrib import admin
        from django.urls import include, path

        namespace.update(admin=admin, include=include, path=path)
    if sample.code.lstrip().startswith("# asgi.py"):
        from channels.routing import ProtocolTypeRouter, URLRouter

        from example_project.asgi import django_asgi_app, websocket_urlpatterns

        namespace.update(
            ProtocolTypeRouter=ProtocolTypeRouter,
            URLRouter=URLRouter,
            django_asgi_app=django_asgi_app,
            websocket_urlpatterns=websocket_urlpatterns,
        )
    exec(compile(sample.code, str(sample), "exec"), namespace)
    return namespace


async def exercise_consumer(consumer: type) -> None:
    """Connect a v2 and a v1 client; ``send_message`` must come back as ``message_new``."""
    app = consumer.as_asgi()  # type: ignore[attr-defined]
    v2 = WebsocketCommunicator(app, "/ws/chat/", subprotocols=[SUBPROTOCOL])
    v1 = WebsocketCommunicator(app, "/ws/chat/")
    # Every wait below has the conftest's patient default bound.
    assert await v2.connect() == (True, SUBPROTOCOL)
    assert (await v1.connect())[0]
    hello = json.loads(await v2.receive_from())
    assert hello["e"] == "connection_established"
    codec = Codec(FieldMap(hello["d"]["field_map"], hello["d"]["timestamp_fields"]))
    await v2.send_json_to({"event": "send_message", "data": {"content": "hello"}})
    output = await v2.receive_output()
    frame = output.get("text") or output["bytes"]
    assert json.loads(frame)["_v"] == 2
    [(event, data)] = codec.decode_frame(frame)
    plain = await v1.receive_json_from()
    assert plain == {"event": event, "data": data}
    assert event == "message_new" and data["content"] == "hello"  # type: ignore[index]
    await v1.disconnect()
    await v2.disconnect()


def check_urlpatterns(urlpatterns: list[Any]) -> None:
    """The stats API included under its prefix resolves and reverses in namespace reznet_ws."""
    from django.urls import URLResolver, get_resolver, reverse

    api = [p for p in urlpatterns if isinstance(p, URLResolver) and p.namespace == "reznet_ws"]
    assert api, "the sample includes reznet_ws.api.urls"
    resolver = get_resolver(type("DocsURLConf", (), {"urlpatterns": urlpatterns}))
    prefix = "/" + str(api[0].pattern)
    for name in ("stats", "stats-reset", "health"):
        url = reverse(f"reznet_ws:{name}", urlconf=resolver.urlconf_name)
        assert url.startswith(prefix)
        assert resolver.resolve(url).url_name == name


def check_application(namespace: dict[str, Any]) -> None:
    """An ASGI ``application`` routes HTTP to Django and WebSockets to every given pattern."""
    from channels.routing import ProtocolTypeRouter, URLRouter

    application = namespace["application"]
    assert isinstance(application, ProtocolTypeRouter)
    websocket = application.application_mapping["websocket"]
    while not isinstance(websocket, URLRouter):  # middleware stacks wrap the router
        websocket = websocket.inner
    routes = [route.pattern for route in websocket.routes]
    for pattern in namespace.get("websocket_urlpatterns", []):
        assert pattern.pattern in routes


def logger_names() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "reznet_ws").rglob("*.py"))
    return set(re.findall(r"getLogger\(\"([\w.]+)\"\)", source))


def check_settings(values: dict[str, Any]) -> None:
    """Load the settings of a sample and check each one as Django would use it."""
    from channels.layers import ChannelLayerManager
    from django.core.cache import caches
    from django.utils.module_loading import import_string

    overridable = {k: values[k] for k in ("REZNET_WS", "CACHES", "CHANNEL_LAYERS") if k in values}
    with override_settings(**overridable):
        if "REZNET_WS" in values:
            assert set(values["REZNET_WS"]) <= set(DEFAULTS), "unknown REZNET_WS keys"
        problems = [m for m in checks.run_checks() if m.id and m.id.startswith("reznet_ws.")]
        assert [m for m in problems if m.is_serious() or m.id == "reznet_ws.W002"] == []
        for alias in values.get("CHANNEL_LAYERS", {}):
            assert hasattr(ChannelLayerManager().make_backend(alias), "group_send")
        for alias in values.get("CACHES", {}):
            assert caches.create_connection(alias) is not None
    logging = values.get("LOGGING")
    if logging is not None:
        for handler in logging.get("handlers", {}).values():
            import_string(handler["class"])
        names = logger_names()
        for name, logger in logging.get("loggers", {}).items():
            assert set(logger.get("handlers", [])) <= set(logging.get("handlers", {}))
            if name.startswith("reznet_ws"):
                assert any(n == name or n.startswith(name + ".") for n in names), name
    apps = [app for app in values.get("INSTALLED_APPS", []) if app is not Ellipsis]
    for app in apps:
        assert importlib.util.find_spec(app.split(".apps.")[0]) is not None, app
    if "reznet_ws" in apps and "daphne" in apps:
        assert apps.index("reznet_ws") < apps.index("daphne"), "reznet_ws goes before daphne"
    for middleware in values.get("MIDDLEWARE", []):
        import_string(middleware)
    if "ASGI_APPLICATION" in values:
        assert re.fullmatch(r"[\w.]+\.application", values["ASGI_APPLICATION"])


SETTINGS = {"REZNET_WS", "CACHES", "CHANNEL_LAYERS", "LOGGING", "INSTALLED_APPS", "MIDDLEWARE",
            "ASGI_APPLICATION"}  # fmt: skip


@pytest.mark.parametrize("sample", PYTHON, ids=str)
async def test_python_sample_runs(sample: Sample) -> None:
    if sample.source:
        check_taken_from_example(sample)
        return
    namespace = run_sample(sample)
    consumers = [
        value for value in namespace.values()
        if isinstance(value, type) and issubclass(value, ConsumerBase)
        and value.__module__ == namespace["__name__"]
    ]  # fmt: skip
    settings = {k: v for k, v in namespace.items() if k.isupper() and not k.startswith("_")}
    if consumers:
        for consumer in consumers:
            await exercise_consumer(consumer)
    elif "post_message" in namespace and "on_new_message" in namespace:
        await check_broadcast_functions(namespace)
    elif "urlpatterns" in namespace:
        check_urlpatterns(namespace["urlpatterns"])
    elif "application" in namespace:
        check_application(namespace)
    elif settings and set(settings) <= SETTINGS:
        check_settings(settings)
    else:
        pytest.fail(f"{sample}: no test exercises this sample; add one to tests/test_docs.py")


class _ChatListener(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.join_group("chat")
        await self.accept()


async def check_broadcast_functions(namespace: dict[str, Any]) -> None:
    """The async and the sync sender of the sample both reach a member of ``chat``."""
    comm = WebsocketCommunicator(_ChatListener.as_asgi(), "/ws/")
    assert (await comm.connect())[0]
    await namespace["on_new_message"]("from async code")
    await sync_to_async(namespace["post_message"])("from sync code")
    got = [json.loads(await comm.receive_from())["data"]["content"] for _ in range(2)]
    assert got == ["from async code", "from sync code"]
    await comm.disconnect()


def test_there_are_samples_to_check() -> None:
    assert len(PYTHON) >= 8
    assert any(s.source for s in PYTHON)


# -------------------------------------------------------------------------------- commands

_PARSE_COMMANDS = r"""
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
import django
django.setup()
from django.core.management import get_commands, load_command_class
from reznet_ws.server.cli import CommandLineInterface

for argv in json.loads(sys.argv[1]):
    if argv[0] == "reznet-daphne":
        CommandLineInterface().parser.parse_args(argv[1:])
    else:
        name = argv[1]
        app = get_commands()[name]
        load_command_class(app, name).create_parser("manage.py", name).parse_args(argv[2:])
print("parsed", len(json.loads(sys.argv[1])))
"""


def console_commands() -> list[tuple[Sample, list[str]]]:
    commands = []
    for sample in samples("console"):
        for line in sample.code.splitlines():
            if line.startswith("$ "):
                commands.append((sample, shlex.split(line[2:], comments=True)))
    return commands


def test_console_commands_parse() -> None:
    server: list[list[str]] = []
    extras = configparser.ConfigParser()
    extras.read(ROOT / "setup.cfg")
    makefile = (ROOT / "Makefile").read_text()
    checked = 0
    for sample, argv in console_commands():
        if argv[0] == "reznet-daphne":
            server.append(argv)
        elif argv[:3] == ["python", "-m", "reznet_ws.server.cli"]:
            server.append(["reznet-daphne", *argv[3:]])
        elif argv[:2] == ["python", "manage.py"]:
            server.append(argv[1:])
        elif argv[:2] == ["pip", "install"]:
            for extra in re.findall(r"reznet-ws\[([\w,]+)\]", " ".join(argv)):
                for name in extra.split(","):
                    assert extras.has_option("options.extras_require", name), f"{sample}: {name}"
        elif argv[0] == "make":
            for target in argv[1:]:
                assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"{sample}: {target}"
        else:
            continue
        checked += 1
    assert checked >= 10 and server
    done = subprocess.run(
        [sys.executable, "-c", _PARSE_COMMANDS, json.dumps(server)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith(f"parsed {len(server)}")
