"""Explanation metrics on ``/metrics`` (the default Prometheus registry django-prometheus serves)."""

from prometheus_client import Counter, Histogram

explanations = Counter(
    "maestro_explanations_total", "Explanations computed, by method and outcome.", ["method", "outcome"]
)
explanation_cache_hits = Counter(
    "maestro_explanation_cache_hits_total", "Explanation requests answered from the cache, by method.", ["method"]
)
explanation_seconds = Histogram(
    "maestro_explanation_duration_seconds",
    "Time to compute an explanation, by method.",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
