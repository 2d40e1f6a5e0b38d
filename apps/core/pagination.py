from rest_framework.pagination import PageNumberPagination


class DefaultPagination(PageNumberPagination):
    """``{count, next, previous, results}`` with ``?page=`` and an optional, capped ``?page_size=``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
