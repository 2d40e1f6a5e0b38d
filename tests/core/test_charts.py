"""Server-drawn charts are well-formed SVG documents with escaped text and a title."""

from xml.etree import ElementTree

from apps.core import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output, parsed to check it
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text
    return root


def test_every_chart_parses_and_escapes_its_labels():
    hostile = '<script>alert("x")</script> & co'
    documents = [
        charts.horizontal_bars([(hostile, 3), ("b", 1)], title=hostile),
        charts.histogram([0, 1, 2, 3], [4, 0, 2], title="h"),
        charts.share_bar(0.25, title="missing"),
        charts.line_chart([(hostile, [0, 0.5, 1], [0, 0.8, 1])], title="roc", x_label="x", y_label="y", diagonal=True),
        charts.scatter([(1, 2), (2, 2.5), (None, 1)], title="s", x_label="a", y_label="p", diagonal=True),
        charts.heatmap([[5, 1], [0, 7]], [hostile, "b"], title="cm"),
        charts.grouped_bars([(hostile, [-0.2, None]), ("m2", [-0.1, -0.15])], ["validation", "test"], title="lb"),
    ]
    for document in documents:
        root = parse(document)
        assert "<script" not in document and root.find(f".//{SVG}script") is None
    assert "&lt;script&gt;" in documents[0]


def test_histogram_draws_one_bar_per_bin():
    root = parse(charts.histogram([0, 1, 2, 3, 4], [1, 2, 3, 4], title="h"))
    assert len(root.findall(f".//{SVG}rect")) == 1 + 4  # background + bars


def test_empty_inputs_still_draw_a_valid_document():
    parse(charts.horizontal_bars([], title="nothing"))
    parse(charts.scatter([], title="nothing", x_label="x", y_label="y"))
    parse(charts.grouped_bars([], ["validation", "test"], title="nothing"))
