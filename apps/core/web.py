"""Shared pieces of the session pages: one way to find an object the user may see (else 404), and one
way to run a service from a form (a domain error becomes a message on the page, NotFound stays a 404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from apps.core import scoping
from apps.core.exceptions import DomainError, NotFound

T = TypeVar("T")
M = TypeVar("M", bound=Model)


def visible_or_404(request: HttpRequest, queryset: QuerySet[M], pk, *, project_field: str, what: str) -> M:
    """The object ``pk`` of ``queryset`` if its project is one ``request.user`` may see; Http404 otherwise."""
    try:
        found = scoping.restrict(queryset, user=request.user, project_field=project_field).filter(pk=int(pk)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise Http404(f"{what} not found.")
    return found


def attempt(request: HttpRequest, action: Callable[[], T], *, success: str | None = None) -> T | bool | None:
    """Run a service call; a domain error becomes an error message (NotFound stays a 404).

    Answers the call's result (``True`` when it returned nothing), or None when it was refused.
    """
    try:
        result = action()
    except NotFound:
        raise Http404("Not found.") from None
    except DomainError as exc:
        messages.error(request, exc.message)
        return None
    if success:
        messages.success(request, success)
    return result if result is not None else True


def redirect_back(request: HttpRequest, fallback: str, **kwargs) -> HttpResponseRedirect:
    """To the page the form was on (its ``next`` field, same site only), else to the URL named ``fallback``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return redirect(target)
    return redirect(fallback, **kwargs)
