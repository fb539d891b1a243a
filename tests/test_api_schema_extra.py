"""The OpenAPI schema needs the ``schema`` extra (drf-spectacular); without it: a 501 and I050.

The missing case is simulated through the guard's seam, ``views.SCHEMA_MODULE``: naming a module
that does not exist makes the guard meet a real ImportError.
"""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import RequestFactory
from rest_framework.views import APIView

from reznet_ws.api import views
from reznet_ws.checks.schema import check_schema_available

HINT = "pip install 'reznet-ws[schema]'"


@pytest.fixture
def without_spectacular(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "SCHEMA_MODULE", "reznet_ws_tests_no_such_module")


def test_with_the_extra_the_schema_is_served_and_nothing_is_reported() -> None:
    from drf_spectacular.views import SpectacularAPIView

    assert views.schema_available()
    assert check_schema_available() == []
    view = views.SchemaView.as_view()
    assert issubclass(view.cls, SpectacularAPIView)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("without_spectacular")
def test_without_the_extra_the_check_names_the_install_command() -> None:
    assert not views.schema_available()
    [message] = check_schema_available()
    assert message.id == "reznet_ws.I050"
    assert message.level == checks.INFO
    assert "schema" in message.msg and "drf-spectacular" in message.msg
    assert HINT in message.hint


@pytest.mark.usefixtures("without_spectacular")
def test_without_the_extra_the_schema_view_answers_501() -> None:
    view = views.SchemaView.as_view()
    assert view.cls is views.SchemaView  # type: ignore[attr-defined]
    response = view(RequestFactory().get("/api/websocket/schema"))
    response.render()
    assert response.status_code == 501
    assert HINT in response.data["detail"]


@pytest.mark.usefixtures("without_spectacular")
def test_without_the_extra_views_are_left_undescribed() -> None:
    @views._describe(responses={200: str})
    class Plain(APIView):
        pass

    assert type(Plain.schema).__module__.startswith("rest_framework.")
