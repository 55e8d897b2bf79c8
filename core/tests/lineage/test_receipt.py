"""Receipts of a real pipeline's model, in text, JSON, Markdown and HTML."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

from tracline.cli import render_receipt
from tracline.hashing import digest_path
from tracline.lineage import receipt

from .pipeline import Pipeline


def test_receipt_json_has_recipe_cost_approval_and_upstream(pipeline: Pipeline) -> None:
    """The JSON receipt of the model names its run, recipe, cost, approval and raw.csv."""
    pipeline.all()
    data = json.loads(render_receipt(
        receipt(str(pipeline.model), registry=pipeline.recorder.registry), "json"))
    assert data["artifact"]["digest"] == digest_path(pipeline.model, cache=False).digest
    assert data["run"]["job_name"] == "train"
    assert data["recipe"]["argv"] == ["python", "train.py", "--lr", "0.1"]
    assert data["cost"]["cost"] == 20.0 and data["approval"]["requestId"] == "req-42"
    assert {i["name"].rsplit("/", 1)[-1] for i in data["inputs"]} == {"train.csv", "params.json"}
    assert data["upstreamCost"]["totals"] == {"USD": 20.0}  # prepare recorded no cost
    assert [r["job"] for r in data["upstreamCost"]["runs"]] == ["prepare", "train"]
    raw = digest_path(pipeline.raw, cache=False).digest
    assert raw in json.dumps(data["upstream"])


def test_text_and_markdown_carry_the_same_facts(pipeline: Pipeline) -> None:
    """Text and Markdown receipts show the command, cost, approver and every upstream digest."""
    pipeline.all()
    made = receipt(str(pipeline.metrics), registry=pipeline.recorder.registry)
    digests = {digest_path(p, cache=False).digest
               for p in (pipeline.raw, pipeline.train_csv, pipeline.model, pipeline.metrics)}
    for fmt in ("text", "markdown"):
        out = render_receipt(made, fmt)
        assert "python evaluate.py" in out, fmt
        assert "1.50 USD" in out and "21.50 USD" in out, fmt  # this run, whole upstream
        assert all(d in out for d in digests), fmt
    assert render_receipt(made, "markdown").startswith("# Receipt: reports/metrics.json")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.tags += [f"{tag}@{k}" for k, _ in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escaped(pipeline: Pipeline) -> None:
    """The HTML receipt loads nothing external and escapes markup found in recorded values."""
    pipeline.prepare()
    pipeline.train()
    pipeline.metrics.parent.mkdir()
    pipeline.metrics.write_text("{}")
    pipeline.recorder.run("evaluate", [pipeline.model], [pipeline.metrics],
                          argv=["python", "-c", "print('<script>alert(1)</script>')"])
    page = render_receipt(receipt(str(pipeline.metrics), registry=pipeline.recorder.registry),
                          "html")
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags
    assert not any(t.endswith(("@src", "@href")) for t in parser.tags)
    assert "<script>alert(1)</script>" in html.unescape("".join(parser.text))
    assert re.search(r"<title>Receipt: reports/metrics.json</title>", page)
    assert digest_path(pipeline.raw, cache=False).digest in page


def test_source_artifact_receipt(pipeline: Pipeline) -> None:
    """A receipt of raw.csv, which nothing recorded made, says it is a source."""
    pipeline.prepare()
    made = receipt(str(pipeline.raw), registry=pipeline.recorder.registry)
    assert made.run is None
    assert "source artifact" in render_receipt(made, "text")
    assert json.loads(render_receipt(made, "json"))["run"] is None
