"""Model-card PDFs load nothing from outside: WeasyPrint gets a fetcher that refuses every URL but data: URIs."""

from __future__ import annotations

import http.server
import threading

import pytest

from apps.registry import cards

PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class Recorder(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self):  # noqa: N802 - the stdlib's name
        Recorder.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        return


@pytest.fixture
def server():
    Recorder.paths = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_card_pdf_fetches_no_url(server, monkeypatch, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the card")
    html = (
        f'<html><head><link rel="stylesheet" href="{server}/style.css"></head><body>'
        f'<img src="{server}/tracker.png"><img src="file://{secret}"><img src="{PNG}">'
        f'<p style="background: url({server}/background.png)">card</p></body></html>'
    )
    monkeypatch.setattr(cards, "card_render_html", lambda card, for_print=False: html)
    pdf = cards.card_render_pdf({})
    assert pdf.startswith(b"%PDF")
    assert Recorder.paths == []


def test_the_fetcher_refuses_every_scheme_but_data():
    fetcher = cards.CardURLFetcher()
    for url in ("http://example.org/x.png", "https://example.org/x.css", "file:///etc/passwd", "ftp://h/x"):
        with pytest.raises(ValueError, match="load nothing"):
            fetcher.fetch(url)
    assert fetcher.fetch(PNG).read().startswith(b"\x89PNG")


def test_an_approval_record_pdf_fetches_no_url_either(server, monkeypatch):
    from apps.governance import record

    html = f'<html><body><img src="{server}/tracker.png"><p>record</p></body></html>'
    monkeypatch.setattr(record, "record_render_html", lambda data, for_print=False: html)
    pdf = record.record_render_pdf({"model_card": {}})
    assert pdf.startswith(b"%PDF")
    assert Recorder.paths == []
