import pytest

from apps.core.exceptions import NotFound, PermissionDenied
from apps.projects.permissions import check_project_access, projects_visible_to
from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory, add_member

pytestmark = pytest.mark.django_db


def test_member_sees_only_their_projects():
    mine, other = ProjectFactory(), ProjectFactory()
    viewer = add_member(mine, "viewer")
    assert list(projects_visible_to(user=viewer)) == [mine]
    assert other not in projects_visible_to(user=viewer)


def test_platform_admin_sees_every_project():
    ProjectFactory.create_batch(2)
    admin = UserFactory(roles=["admin"])
    assert projects_visible_to(user=admin).count() == 2


def test_outsider_gets_not_found_and_viewer_gets_denied_for_editor_actions():
    project = ProjectFactory()
    viewer = add_member(project, "viewer", roles=["ml_engineer"])
    with pytest.raises(NotFound):
        check_project_access(user=UserFactory(), project=project)
    with pytest.raises(PermissionDenied):
        check_project_access(user=viewer, project=project, minimum="editor")
    check_project_access(user=viewer, project=project)


def test_editor_needs_the_global_capability_too():
    project = ProjectFactory()
    plain_editor = add_member(project, "editor", roles=["viewer"])
    engineer_editor = add_member(project, "editor", roles=["ml_engineer"])
    with pytest.raises(PermissionDenied):
        check_project_access(user=plain_editor, project=project, minimum="editor", capability="automl:run")
    check_project_access(user=engineer_editor, project=project, minimum="editor", capability="automl:run")


def test_dataset_factory_stores_a_readable_sample():
    from apps.projects.selectors import dataset_dataframe
    from tests.projects.factories import DatasetFactory

    dataset = DatasetFactory(name="penguins")
    frame = dataset_dataframe(dataset=dataset)
    assert frame.shape == (dataset.n_rows, dataset.n_columns) == (344, 8)
