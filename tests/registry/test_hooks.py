"""The typed extension points: a bulk answer per call, NO_APPROVAL by default, override() restores."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.registry import hooks

pytestmark = pytest.mark.django_db


def test_without_governance_no_version_is_deployable(make_version):
    version = make_version("titanic")
    assert hooks.approval_for(version) == hooks.NO_APPROVAL
    assert hooks.approval_for(version).deployable is False
    assert hooks.feature_importances_of(version) == {}


def test_the_provider_answers_many_versions_in_one_call(make_version):
    versions = [make_version("titanic") for _ in range(3)]
    calls = []

    def provider(asked):
        calls.append([v.pk for v in asked])
        return {asked[0].pk: hooks.Approval("approved", True)}

    with hooks.override(approvals=provider):
        answers = hooks.approvals_for(versions)
    assert calls == [[v.pk for v in versions]]
    assert answers[versions[0].pk].deployable is True
    assert answers[versions[1].pk] is hooks.NO_APPROVAL


def test_override_restores_the_previous_provider_even_on_error(make_version):
    version = make_version("titanic")
    with pytest.raises(RuntimeError), hooks.override(approvals=lambda vs: {vs[0].pk: hooks.Approval("review", False)}):
        assert hooks.approval_for(version).state == "review"
        raise RuntimeError("boom")
    assert hooks.approval_for(version) == hooks.NO_APPROVAL


def test_a_second_provider_is_a_configuration_error():
    def first(versions):
        return {}

    def second(versions):
        return {}

    with hooks.override():
        hooks._providers.approvals = None
        hooks.register_approval_provider(first)
        hooks.register_approval_provider(first)  # the same one again: fine (ready() may run twice)
        with pytest.raises(ImproperlyConfigured, match="already registered"):
            hooks.register_approval_provider(second)


def test_no_queries_are_made_for_versions_without_a_provider(make_version):
    versions = [make_version("titanic") for _ in range(2)]
    with hooks.override(), CaptureQueriesContext(connection) as queries:
        hooks._providers.approvals = None
        hooks.approvals_for(versions)
    assert len(queries) == 0
