"""schemathesis against the published OpenAPI document: no server errors, no answers off the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from assetmap.db import connect
from assetmap.demo import load_demo
from assetmap.io.postcodes import import_postcodes
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import fresh_database
from webapp import create_app


@pytest.fixture(scope="module")
def app(request: pytest.FixtureRequest, opendata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    for url in fresh_database("spatialite", request, tmp_path_factory.mktemp("schema")):
        load_demo(connect(url))
        import_postcodes(connect(url), opendata / "codepoint-open-2020-08/csv/g.csv")
        yield create_app({"DATABASE_URL": url, "PUBLIC_SEARCH": True, "SECRET_KEY": "tests"})


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_api_keeps_to_its_openapi_document(app: object) -> None:
    """Every operation, generated cases: no 5xx, status codes, content types and bodies as documented."""
    from hypothesis import given

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            # Zero server errors and zero schema violations. Not required: that every request the
            # schema allows succeeds ("lonely" is a string, but "zzzz" is not a need: a 400 with a reason).
            case.call_and_validate(checks=CHECKS)

        run()
