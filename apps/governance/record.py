"""The approval record as a document: the model card (the registry's own template and print stylesheet), then the
checks with their evidence, the decisions and the whole history with its hashes, laid out by WeasyPrint."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from apps.registry.cards import card_template_context


def record_render_html(record: dict[str, Any], *, for_print: bool = False) -> str:
    context = {**card_template_context(record["model_card"] or {}), "record": record, "for_print": for_print}
    return render_to_string("governance/record.html", context)


def record_render_pdf(record: dict[str, Any]) -> bytes:
    from weasyprint import CSS, HTML

    from apps.registry.cards import pdf_url_fetcher

    fetcher = pdf_url_fetcher()  # the card's deny-all fetcher: a record fetches no URL either

    stylesheets = [
        CSS(string=render_to_string("registry/card_print.css"), url_fetcher=fetcher),
        CSS(string=render_to_string("governance/record_print.css"), url_fetcher=fetcher),
    ]
    return HTML(string=record_render_html(record, for_print=True), url_fetcher=fetcher).write_pdf(
        stylesheets=stylesheets
    )
