"""docs/recipes/asgi/views.py, the recipe's own file, run through Django's ASGI handler.

Django's AsyncClient drives the async views in an event loop; they reach the
local server over real sockets from worker threads. A ticker coroutine on the
same loop proves the loop kept running while the calls waited.
"""

from __future__ import annotations

import asyncio
import importlib.util
import pathlib
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, ClassVar

import django
import pytest
from django.conf import settings

if not settings.configured:  # configure once, whoever imports Django first
    settings.configure(
        SECRET_KEY="django-test-only-key",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()

from django.test import AsyncClient, override_settings
from django.urls import path

from sayna.testing import FakeServer, decode_speech

RECIPE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "recipes" / "asgi" / "views.py"


def _load_recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("asgi_recipe_views", RECIPE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


views = _load_recipe()


class _URLConf:
    urlpatterns: ClassVar[list[Any]] = [
        path("voices", views.voices),
        path("greeting", views.greeting),
    ]


@pytest.fixture
def recipe(monkeypatch: pytest.MonkeyPatch, sayna_server: FakeServer) -> Iterator[ModuleType]:
    """The recipe's views, with its client pointed at the local server and closed after."""
    monkeypatch.setenv("SAYNA_URL", sayna_server.url)
    monkeypatch.setenv("SAYNA_API_KEY", "")
    views.sayna_client.cache_clear()
    try:
        with override_settings(ROOT_URLCONF=_URLConf):
            yield views
    finally:
        views.sayna_client().close()
        views.sayna_client.cache_clear()


async def _serve(
    requests: list[str], probe: Callable[[], bool] = lambda: True
) -> tuple[list[Any], int]:
    """Send the requests at once; count how often a coroutine on the loop saw ``probe()``."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += probe()
            await asyncio.sleep(0)

    client = AsyncClient()
    tick = asyncio.ensure_future(ticker())
    try:
        answers = await asyncio.gather(*(client.get(url) for url in requests))
    finally:
        done.set()
        await tick
    return list(answers), ticks


def test_rest_and_session_views_through_threads(recipe: ModuleType) -> None:
    """Four greetings and a REST call at once: right answers, the loop ran, no thread left."""
    names = ["Ada", "Grace", "Linus", "Barbara"]

    def a_session_is_open() -> bool:  # its reader thread runs
        return any(t.name.startswith("sayna-reader") for t in threading.enumerate())

    answers, ticks = asyncio.run(
        _serve([f"/greeting?name={n}" for n in names] + ["/voices"], a_session_is_open)
    )

    *greetings, voices = answers
    for name, response in zip(names, greetings, strict=True):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("audio/L16")
        assert decode_speech(response.content, 16000) == f"Hello {name}, thanks for calling."
    assert voices.status_code == 200
    assert voices.json() == {
        name: len(found) for name, found in recipe.sayna_client().get_voices().items()
    }
    # The loop ran while sessions were open: a view calling sayna on the loop
    # itself would open and close its session without the ticker ever seeing it.
    assert ticks > 0
    recipe.sayna_client().close()
    left = [t.name for t in threading.enumerate() if t.name.startswith("sayna-")]
    assert [name for name in left if not name.startswith("sayna-fake")] == []


def test_failure_answers_502(recipe: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that cannot be reached: both views answer 502, nothing escapes."""
    monkeypatch.setenv("SAYNA_URL", "http://127.0.0.1:9")  # nothing listens on discard
    answers, _ = asyncio.run(_serve(["/greeting?name=x", "/voices"]))
    assert [a.status_code for a in answers] == [502, 502]
