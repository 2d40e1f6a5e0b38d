"""The site's URLs plus one page that breaks the CSP on purpose, to prove the browser test sees violations."""

from django.http import HttpResponse
from django.urls import include, path


def csp_violation(request):
    return HttpResponse(
        '<!doctype html><html><head><title>probe</title></head><body><p style="color: red">x</p>'
        "<script>document.title = 'inline script ran';</script></body></html>"
    )


urlpatterns = [
    path("csp-probe/", csp_violation),
    path("", include("config.urls")),
]
