import factory
from django.contrib.auth.models import Group

from apps.accounts.models import User

PASSWORD = "Correct-Horse-Battery-42"


class UserFactory(factory.django.DjangoModelFactory):
    """``UserFactory(roles=["ml_engineer"])``: a user in the given global role groups (default viewer)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        names = extracted if extracted is not None else ["viewer"]
        self.save()
        if create:
            self.groups.set(Group.objects.filter(name__in=names))
