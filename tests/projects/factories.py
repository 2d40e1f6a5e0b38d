import factory

from apps.projects.choices import ProjectRole
from apps.projects.models import Project
from apps.projects.services import project_member_set
from tests.accounts.factories import UserFactory


class ProjectFactory(factory.django.DjangoModelFactory):
    """A project whose owner (an ml_engineer) is its owner member, as ``project_create`` makes it."""

    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    description = "A project for tests"
    owner = factory.SubFactory(UserFactory, roles=["ml_engineer"])

    @factory.post_generation
    def owner_membership(self, create, extracted, **kwargs):
        if create:
            project_member_set(project=self, user=self.owner, role=ProjectRole.OWNER)


def add_member(project: Project, role: str = ProjectRole.VIEWER, **user_kwargs):
    """A new user with ``role`` in ``project`` (and global roles from ``roles=[...]``)."""
    user = UserFactory(**user_kwargs)
    project_member_set(project=project, user=user, role=role)
    return user
