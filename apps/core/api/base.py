"""The base every API view inherits: it says how its objects reach a project, and its queryset is
narrowed to what the requesting user may see before any handler runs.

NetBox's ``BaseViewSet.initial()`` is the model. A view declares:

- ``project_field``: the lookup from its model to the project (``"project"``,
  ``"registered_model__project"``; ``""`` for the Project model itself), or ``UNSCOPED`` for views
  whose objects belong to no project (the caller's own account, user administration, sign-in).
- optionally ``filter_serializer_class``: a :class:`FilterSerializer` that parses the query string;
  each validated field's ``source`` is the ORM lookup it filters on.
- optionally ``json_max_bytes_setting``: the setting holding the largest body it reads
  (``API_JSON_MAX_BYTES`` unless it carries rows: ``API_JSON_MAX_BYTES_PREDICT``; see ``parsers``).

Forgetting ``project_field`` is an error at import time, and ``tests/core/test_url_coverage.py``
fails for any ``/api/v1/`` view that does not inherit this base.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework import generics, permissions, serializers

from apps.core import logs, scoping
from apps.core.api.parsers import DEFAULT_LIMIT_SETTING
from apps.core.exceptions import NotFound

UNSCOPED = None
_REQUIRED = object()


class IsActiveUser(permissions.BasePermission):
    """Authenticated and not deactivated (a deactivated user's valid-looking token gets 401 earlier)."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_active)


class ScopedAPIView(generics.GenericAPIView):
    """Every ``/api/v1/`` view. Active users only unless a view opens itself (sign-in), objects of
    projects the user cannot see are not found (404), filters parse through one serializer."""

    permission_classes: ClassVar[list] = [IsActiveUser]
    project_field: ClassVar[Any] = _REQUIRED
    filter_serializer_class: ClassVar[type[serializers.Serializer] | None] = None
    json_max_bytes_setting: ClassVar[str] = DEFAULT_LIMIT_SETTING

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.project_field is _REQUIRED and not cls.__dict__.get("abstract", False):
            raise ImproperlyConfigured(
                f"{cls.__module__}.{cls.__qualname__} must say how its objects reach a project: set "
                "project_field to a lookup ('project', 'registered_model__project', '' for projects) or UNSCOPED."
            )

    abstract = True  # this class itself; subclasses are concrete unless they set it again

    @property
    def is_scoped(self) -> bool:
        return self.project_field is not UNSCOPED

    def initial(self, request, *args, **kwargs) -> None:
        """Authenticate, check permissions and throttles (DRF), then narrow the queryset (lazily: no query)."""
        super().initial(request, *args, **kwargs)
        logs.bind(user_id=request.user.pk if request.user.is_authenticated else None)
        if self.is_scoped and isinstance(getattr(self, "queryset", None), QuerySet):
            self.queryset = self.restrict(self.queryset)
            self._queryset_restricted = True

    def restrict(self, queryset: QuerySet) -> QuerySet:
        """``queryset`` narrowed to the requesting user's projects (unchanged for unscoped views)."""
        if not self.is_scoped:
            return queryset
        return scoping.restrict(queryset, user=self.request.user, project_field=self.project_field)

    def check_project(self, *, project_id: int, project_name: str = "") -> None:
        """Scope one object whose project id is already known (prediction's hot path): NotFound unless
        the user may see that project. Same rule as :meth:`restrict`, one small query instead of a subquery."""
        logs.bind(project_id=project_id)
        scoping.check_visible(user=self.request.user, project_id=project_id, project_name=project_name)

    def get_queryset(self) -> QuerySet:
        # initial() already narrowed ``self.queryset`` (narrowing it twice would filter on the rule twice);
        # a queryset not narrowed yet (no ``queryset`` attribute, or a call before initial) is narrowed here.
        queryset = super().get_queryset()
        if getattr(self, "_queryset_restricted", False):
            return queryset
        return self.restrict(queryset)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        if self.filter_serializer_class is None:
            return queryset
        data = parse_filters(self.filter_serializer_class, self.request)
        return queryset.filter(**{lookup: value for lookup, value in data.items() if value is not None})


def parse_filters(serializer_class: type[serializers.Serializer], request) -> dict[str, Any]:
    """Validate ``request``'s query string with ``serializer_class``: 400 naming the bad parameter."""
    serializer = serializer_class(data=request.query_params, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class FilterSerializer(serializers.Serializer):
    """Base of a list view's query-string filters; every field is optional."""


class BooleanFilter(serializers.BooleanField):
    """``?flag=true|false`` (also 1/0, yes/no); absent means "do not filter" (DRF's default would be False)."""

    default_empty_html = serializers.empty

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class IdFilter(serializers.IntegerField):
    """A positive id in the query string (``?registered_model=3``)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)


class ProjectFilter(IdFilter):
    """``?project=<id>``: a project the user can see, else 404 (the same answer on every list)."""

    default_error_messages = {"invalid": "'project' is a project id (a whole number)."}

    def to_internal_value(self, data) -> int:
        project_id = super().to_internal_value(data)
        request = self.context.get("request")
        from django.apps import apps

        project_model = apps.get_model("projects", "Project")
        visible = scoping.restrict(project_model.objects.filter(pk=project_id), user=request.user, project_field="")
        if not visible.exists():
            raise NotFound("Project not found.")
        return project_id


def validated(serializer_class: type[serializers.Serializer], data, **kwargs) -> dict[str, Any]:
    """Parse a request body with an input serializer; 400 with field errors otherwise."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
