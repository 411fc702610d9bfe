"""Bokeh's reference maps, looked up instead of built per message (served pages only).

For every message a Bokeh server sends, ``PATCH-DOC`` builds ``{id(model): model.ref}`` over
every model of the page's document (``Serializer(references=doc.models.synced_references)``),
and for every message it receives, ``{model.id: model}`` over the same models
(``Document.apply_json_patch``). A frame of this dashboard changes a handful of models, yet
each of its messages -- the frame out, the page's acknowledgement in -- paid for all ~530 of
them: about 0.7 ms of the server's one Python thread per frame in-process, and far more in a
room of twenty pages where every such stretch also keeps the sampling threads from the GIL.

`install` makes both lazy: the serializer asks whether a model is one the page already has
(known to the document and not new) when it meets one, and the deserializer looks ids up in
the document's own index. Messages are byte-for-byte those of Bokeh
(tests/dashboard/test_bokeh_refs.py compares them). Installed only where the internals are
those this was written against (Bokeh 3.x); anywhere else Bokeh runs unchanged.
"""

from __future__ import annotations

import logging
from collections import ChainMap

__all__ = ["install", "installed", "uninstall"]

log = logging.getLogger(__name__)
_installed = False
_originals: list = []  # (owner, name, value) to put back (tests)


class _Synced:
    """The models a page already has: in the document, and not new since the last message."""

    __slots__ = ("_manager",)

    def __init__(self, manager):
        self._manager = manager

    def __contains__(self, model) -> bool:
        m = self._manager
        return m._models.get(model.id) is model and model not in m._new_models

    def __iter__(self):
        m = self._manager
        return (model for model in list(m._models.values()) if model not in m._new_models)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def installed() -> bool:
    return _installed


def install() -> bool:
    """Patch Bokeh (idempotent); True if the lazy maps are in use."""
    global _installed
    if _installed:
        return True
    try:
        from bokeh.core import serialization as ser
        from bokeh.document import document as docmod
        from bokeh.document.models import DocumentModelManager
        from bokeh.model import Model

        Serializer, Deserializer = ser.Serializer, ser.Deserializer
        # the internals this relies on: the serializer keeps its references in ``_references``
        # and reaches them only through has_ref/add_ref/get_ref; the manager indexes its models
        # by id in ``_models`` and tracks new ones in ``_new_models``; the document deserializes
        # patches with the module's ``Deserializer``
        for owner, names in ((Serializer, ("has_ref", "add_ref", "get_ref", "encode")),
                             (DocumentModelManager, ("synced_references", "flush_synced")),
                             (Deserializer, ("has_ref",))):
            if not all(hasattr(owner, n) for n in names):
                raise AttributeError(f"{owner.__name__} lacks one of {names}")
        if getattr(docmod, "Deserializer", None) is not Deserializer:
            raise AttributeError("bokeh.document.document.Deserializer moved")
        probe = DocumentModelManager.__init__.__code__.co_names
        if "_models" not in probe or "_new_models" not in probe:
            raise AttributeError("DocumentModelManager no longer keeps _models/_new_models")
    except Exception as exc:  # another Bokeh: leave it alone
        log.info("mdhmc: Bokeh reference maps left as they are (%s)", exc)
        return False

    orig_init = Serializer.__init__

    def ser_init(self, *, references=set(), deferred=True, check_circular=False):
        if isinstance(references, _Synced):
            orig_init(self, references=(), deferred=deferred, check_circular=check_circular)
            self._mdhmc_synced = references
        else:
            orig_init(self, references=references, deferred=deferred, check_circular=check_circular)
            self._mdhmc_synced = None

    def get_ref(self, obj):
        ref = self._references.get(id(obj))
        synced = self._mdhmc_synced
        if ref is None and synced is not None and isinstance(obj, Model) and obj in synced:
            ref = self._references[id(obj)] = obj.ref
        return ref

    def has_ref(self, obj) -> bool:
        return get_ref(self, obj) is not None if isinstance(obj, Model) else id(obj) in self._references

    for owner, name in ((Serializer, "__init__"), (Serializer, "get_ref"), (Serializer, "has_ref"),
                        (DocumentModelManager, "synced_references"), (docmod, "Deserializer")):
        _originals.append((owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)))
    Serializer.__init__ = ser_init
    Serializer.get_ref = get_ref
    Serializer.has_ref = has_ref
    DocumentModelManager.synced_references = property(lambda self: _Synced(self))

    class _IndexedDeserializer(Deserializer):
        """Looks ids up in the document's index (a chain: the models a message brings are added
        in front, the document's own map is never written)."""

        def __init__(self, references=None, *, setter=None):
            models = _document_index(references)
            if models is None:
                super().__init__(references, setter=setter)
            else:
                super().__init__(None, setter=setter)
                self._references = ChainMap({}, models)

    docmod.Deserializer = _IndexedDeserializer
    _installed = True
    return True


def uninstall() -> None:
    """Bokeh as it was (tests)."""
    global _installed
    while _originals:
        owner, name, value = _originals.pop()
        setattr(owner, name, value)
    _installed = False


def _document_index(references):
    """The document's ``{id: model}`` if ``references`` is exactly its models (as
    ``Document.apply_json_patch`` passes them: ``list(self.models)``), else None."""
    if not isinstance(references, list) or not references:
        return None
    doc = getattr(references[0], "document", None)
    models = getattr(getattr(doc, "models", None), "_models", None)
    if not isinstance(models, dict) or len(models) != len(references):
        return None
    values = list(models.values())  # same order as the list, since it was made from them
    if values[0] is not references[0] or values[-1] is not references[-1]:
        return None
    return models
