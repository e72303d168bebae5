"""Fixtures for the fake Azure, Mistral, Cohere and Bedrock upstreams (a pytest plugin
loaded by tests/conftest.py): one server per session, reset for every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.azure_server import FakeAzure
from tests.fakes.bedrock_server import FakeBedrock
from tests.fakes.cohere_server import FakeCohere
from tests.fakes.mistral_server import FakeMistral
from tests.fakes.serving import run_server


def _served(fake: Any, suffix: str = "") -> Iterator[Any]:
    with run_server(fake.app) as server:
        fake.url = server.url + suffix
        yield fake


@pytest.fixture(scope="session")
def _azure_server() -> Iterator[FakeAzure]:
    yield from _served(FakeAzure())


@pytest.fixture(scope="session")
def _mistral_server() -> Iterator[FakeMistral]:
    yield from _served(FakeMistral(), "/v1")


@pytest.fixture(scope="session")
def _cohere_server() -> Iterator[FakeCohere]:
    yield from _served(FakeCohere())


@pytest.fixture(scope="session")
def _bedrock_server() -> Iterator[FakeBedrock]:
    yield from _served(FakeBedrock())


def _fresh(fake: Any) -> Iterator[Any]:
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture
def fake_azure(_azure_server: FakeAzure) -> Iterator[FakeAzure]:
    yield from _fresh(_azure_server)


@pytest.fixture
def fake_mistral(_mistral_server: FakeMistral) -> Iterator[FakeMistral]:
    yield from _fresh(_mistral_server)


@pytest.fixture
def fake_cohere(_cohere_server: FakeCohere) -> Iterator[FakeCohere]:
    yield from _fresh(_cohere_server)


@pytest.fixture
def fake_bedrock(_bedrock_server: FakeBedrock) -> Iterator[FakeBedrock]:
    yield from _fresh(_bedrock_server)
