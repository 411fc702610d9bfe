"""dashboard/bokeh_refs.py: Bokeh's messages are the same with the lazy reference maps.

Each test builds the same document twice (Bokeh as shipped, then patched), makes the same
changes -- data of a known source, a model new to the page, a model that left it -- and
compares the PATCH-DOC messages byte for byte, and what a patch from the page does to the
document. Negative control: a serializer that took every model for known (the mistake a lazy
map could make) gives a different message, so the comparison can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.models import ColumnDataSource, Div, GlyphRenderer, InlineStyleSheet, Scatter
from bokeh.plotting import figure
from bokeh.protocol import Protocol

from mdhmc.dashboard import bokeh_refs

pytestmark = pytest.mark.filterwarnings("ignore")


def _page(seed: int):
    """A document like a page's, already sent (nothing new), and its parts by name."""
    rng = np.random.default_rng(seed)
    doc = Document()
    src = ColumnDataSource({"x": rng.normal(size=50), "y": rng.normal(size=50)}, name="src")
    fig = figure(name="fig")
    fig.scatter("x", "y", source=src)
    div = Div(text="a", name="div")
    doc.add_root(fig)
    doc.add_root(div)
    doc.models.flush_synced()
    return doc, {"src": src, "fig": fig, "div": div}


def _changes(doc, parts, seed: int):
    """The same changes on either copy, recorded as Bokeh records them (a hold)."""
    rng = np.random.default_rng(seed + 1)
    doc.hold("combine")
    parts["src"].data = {"x": rng.normal(size=50), "y": rng.normal(size=50)}
    extra = ColumnDataSource({"x": [1.0], "y": [2.0]}, name="extra")  # new to the page: sent whole
    parts["fig"].renderers = [*parts["fig"].renderers, GlyphRenderer(data_source=extra, glyph=Scatter())]
    parts["div"].stylesheets = [InlineStyleSheet(css=".x{}")]
    parts["div"].text = "b"
    events = list(doc.callbacks._held_events)
    doc.callbacks._held_events = []
    doc.callbacks._hold = None
    return events


def _message(doc, events):
    """The message as it goes on the wire: its JSON text, its binary buffers, and the models
    the document still counts as new afterwards."""
    msg = Protocol().create("PATCH-DOC", events)
    return msg.content_json, [b.to_bytes() for b in msg.buffers], sorted(m.id for m in doc.models._new_models)


def _both(seed: int, fn):
    """``fn`` on two identical pages, with Bokeh as shipped and patched; ids made equal."""
    from bokeh.util import serialization as ids

    out = []
    for patched in (False, True):
        counter = ids._simple_id
        ids._simple_id = 10_000
        try:
            if patched:
                assert bokeh_refs.install()
            else:
                bokeh_refs.uninstall()
            doc, parts = _page(seed)
            out.append(fn(doc, parts))
        finally:
            ids._simple_id = counter
            bokeh_refs.uninstall()
    return out


def _comparable(content_json: str):
    return content_json


@pytest.mark.parametrize("seed", range(3))
def test_patch_messages_are_bokehs(seed):
    plain, lazy = _both(seed, lambda doc, parts: _message(doc, _changes(doc, parts, seed)))
    assert _comparable(plain[0]) == _comparable(lazy[0])
    assert plain[1] == lazy[1]  # the binary buffers (the data arrays)
    assert plain[2] == lazy[2]  # the models still new afterwards
    # the new models went whole, the known ones as references
    text = _comparable(lazy[0])
    assert '"name":"extra"' in text and '"name":"src"' not in text


def test_negative_control_a_serializer_that_knows_everything_differs():
    def everything_known(doc, parts):
        events = _changes(doc, parts, 0)
        real = Serializer.__init__

        def known(self, *, references=set(), deferred=True, check_circular=False):
            real(self, references=set(doc.models), deferred=deferred, check_circular=check_circular)

        Serializer.__init__ = known
        try:
            return _message(doc, events)
        finally:
            Serializer.__init__ = real

    plain, _ = _both(0, lambda doc, parts: _message(doc, _changes(doc, parts, 0)))
    wrong, _ = _both(0, everything_known)
    assert _comparable(plain[0]) != _comparable(wrong[0])


def test_a_patch_from_the_page_applies_the_same():
    def apply(doc, parts):
        src, div = parts["src"], parts["div"]
        new_id = "p-new-1"
        patch = {"events": [
            {"kind": "ModelChanged", "model": {"id": div.id}, "attr": "text", "new": "from the page"},
            {"kind": "ModelChanged", "model": {"id": src.id}, "attr": "tags",
             "new": [{"type": "object", "name": "ColumnDataSource", "id": new_id,
                      "attributes": {"name": "brought", "data": {"type": "map", "entries": []}}}]},
        ]}
        doc.apply_json_patch(patch)
        brought = src.tags[0]
        return div.text, brought.name, brought.id, brought.document is doc, len(doc.models)

    plain, lazy = _both(0, apply)
    assert plain == lazy == ("from the page", "brought", "p-new-1", True, plain[4])


def test_left_alone_where_the_internals_differ(monkeypatch):
    from bokeh.document.models import DocumentModelManager

    monkeypatch.delattr(DocumentModelManager, "flush_synced")
    try:
        assert bokeh_refs.install() is False and not bokeh_refs.installed()
    finally:
        bokeh_refs.uninstall()
