"""How a feature adds itself to the web app (the people pages do): routes, a ``person`` search
filter and header links, all behind the same password/token and security headers.

``create_app`` collects the routes in one place: its own, then those of each extension that
``default_extensions`` returns (or that a caller passes).  An extension module is imported
there, and only there, so it can be left out (``--no-people``) without touching the rest.

    def people_routes(context: WebContext) -> list[BaseRoute]:
        return [Route("/people", ...), Route("/api/people", ...)]

    WebExtension("people", routes=people_routes, person_filter=lambda value: (
        "(device, event_id) IN (SELECT device, event_id FROM sightings WHERE person = ?)", (int(value),)),
        nav=(("People", "/people"),))

A ``person_filter`` raises ``search.BadQuery`` for a value it cannot read (answered 400).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute

from .intake import Receiver
from .search import PersonFilter


@dataclass(frozen=True)
class WebContext:
    """What an extension's routes get: the receiver (its store and index) and the page renderer."""
    receiver: Receiver
    render: Callable[..., HTMLResponse]  # render("page.html", **context) with the app's templates
    summary: Callable[..., dict]  # summary(stored_event): what a gallery card shows of it, as JSON

    @property
    def index(self):
        return self.receiver.store.index


@dataclass(frozen=True)
class WebExtension:
    name: str
    routes: Callable[[WebContext], list[BaseRoute]] = lambda context: []
    person_filter: PersonFilter | None = None
    nav: tuple[tuple[str, str], ...] = field(default=())  # (label, path) links in the page header


def default_extensions(receiver: Receiver) -> Sequence[WebExtension]:
    """The extensions ``mugshot-receive --http`` serves: the people pages, unless ``--no-people``."""
    if getattr(receiver, "people", None) is None:
        return ()
    from .people.web import people_routes
    from .search import BadQuery

    def person_filter(value: str):
        if not value.isdigit() or len(value) > 12:
            raise BadQuery(f"person: expected a person id (digits), got {value[:40]!r}")
        return ("(device, event_id) IN (SELECT device, event_id FROM faces WHERE source = 'event' "
                "AND person_id = ?)", (int(value),))

    return (WebExtension("people", routes=lambda context: people_routes(receiver.people, context.render),
                         person_filter=person_filter, nav=(("People", "/people"),)),)
