"""The static gallery ``index.html``: the newest events from the index, redrawn at most once
a second by the receiver's maintenance thread (its cost does not depend on how many
events are stored).  Rendered from an autoescaping Jinja2 template: every field from the
wire is text, never markup.
"""
from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from .store import EventStore

GALLERY_SIZE = 200

templates = Environment(loader=PackageLoader("edge.receiver", "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True))


def write_gallery(store: EventStore, size: int = GALLERY_SIZE) -> None:
    with store.index.lock:
        events = store.index.listing(limit=size)
        total = store.index.totals()[0]
    page = templates.get_template("static_gallery.html").render(events=events, total=total)
    store.folder.write((), "index.html", page.encode("utf-8"), fsync=False)
