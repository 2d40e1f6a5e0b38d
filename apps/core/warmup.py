"""What a web process loads before it takes its first request (``config.wsgi``), so that request is not the one that
pays for it: the URL configuration, which imports every view, serializer and the API schema's generator, its
reverse-lookup tables (built at the first ``reverse()`` otherwise), and the templates of the pages people open
first. Nothing here touches the database."""

from __future__ import annotations

FIRST_TEMPLATES = ("registration/login.html", "dashboard/dashboard.html", "admin/login.html", "admin/index.html")


def warm() -> None:
    from django.template.loader import get_template
    from django.urls import get_resolver

    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 - imports the URL configuration and every view module
    resolver.reverse_dict  # noqa: B018 - builds the lookup tables of reverse()
    for _prefix, namespace in resolver.namespace_dict.values():
        namespace.reverse_dict  # noqa: B018 - and those of each namespace (admin:, api:, ...)
    for name in FIRST_TEMPLATES:
        get_template(name)  # compiled once, kept by the cached template loader
