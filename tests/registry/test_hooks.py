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


def test_the_deploy_authorizer_decides_who_and_what_for_every_deploy_path(make_version):
    from rest_framework.test import APIClient

    from apps.core.exceptions import PermissionDenied

    version = make_version("titanic")
    calls = []

    def check_actor(*, project, user):
        calls.append(("actor", project.pk, user.pk))
        if not user.is_superuser:
            raise PermissionDenied("not you")

    def authorize(*, version, user, action, comment):
        calls.append((action, version.pk, comment))

    client = APIClient()
    client.force_authenticate(version.registered_model.project.owner)
    authorizer = hooks.DeployAuthorizer(check_actor=check_actor, authorize=authorize)
    with hooks.override(deploy_authorizer=authorizer):
        assert hooks.deploy_authorizer() is authorizer
        refused = client.post(f"/api/v1/models/{version.pk}/deploy", {"comment": "go"}, format="json")
        assert refused.status_code == 403 and refused.json()["detail"] == "not you"
        owner = version.registered_model.project.owner
        owner.is_superuser = True
        owner.save()
        assert client.post(f"/api/v1/models/{version.pk}/deploy", {"comment": "go"}, format="json").status_code == 201
    assert calls[-1] == ("deploy", version.pk, "go")


def test_overriding_the_approval_provider_sets_the_deploy_authorizer_aside():
    marker = hooks.DeployAuthorizer(check_actor=lambda **kw: None, authorize=lambda **kw: None)
    with hooks.override(deploy_authorizer=marker):
        with hooks.override(approvals=lambda versions: {}):
            assert hooks.deploy_authorizer() is None
        with hooks.override(approvals=lambda versions: {}, deploy_authorizer=marker):
            assert hooks.deploy_authorizer() is marker
        with hooks.override(feature_importances=lambda versions: {}):
            assert hooks.deploy_authorizer() is marker
        assert hooks.deploy_authorizer() is marker


def test_a_second_deploy_authorizer_is_a_configuration_error():
    first = hooks.DeployAuthorizer(check_actor=lambda **kw: None, authorize=lambda **kw: None)
    second = hooks.DeployAuthorizer(check_actor=lambda **kw: None, authorize=lambda **kw: None)
    with hooks.override(deploy_authorizer=None):
        hooks.register_deploy_authorizer(first)
        hooks.register_deploy_authorizer(first)
        with pytest.raises(ImproperlyConfigured, match="already registered"):
            hooks.register_deploy_authorizer(second)
