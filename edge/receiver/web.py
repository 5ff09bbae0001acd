"""``mugshot-receive --http``: the gallery as a web app (Starlette, served by uvicorn in a thread).

- ``/``: the gallery, searched by box, camera, day, time range, view, text and person (see
  ``search``), a page at a time (``?before=<cursor>``: older pages); on the first page new
  events appear without a reload (the page polls ``/api/events?after=<id>``, and adds them as
  text nodes).  ``/api/events?limit=N&before=<cursor>`` pages through everything as JSON.
- ``/events/<device>/<event_id>``: the generated mugshot, the profile (when the box sent one)
  and the camera's crop at the same size, labelled, the metadata folded away; a download
  (zip) and a delete button.  ``?revision=N`` shows an earlier revision.
- ``/timeline?day=YYYY-MM-DD``: a day by hour; ``/api/export``: a search as CSV or JSON;
  ``DELETE /api/events/<device>/<event_id>`` (``web_browse``).
- ``/files/<device>/...``: the stored files (names checked, never through a link).
- ``/healthz`` (no password: only whether the broker is connected) and ``/metrics``
  (Prometheus).
- Extensions (``web_extensions``: the people pages) add their routes in ``create_app``.
Everything but ``/healthz`` needs the password/token when one is set: HTTP Basic (any user
name) or ``Authorization: Bearer``.  Pages are rendered by autoescaping Jinja2 templates and
sent with a Content-Security-Policy that allows only this server's own script.
"""
from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import web_browse
from .gallery import templates
from .index import format_ranges
from .intake import Receiver
from .schema import NAME, VIEWS, view_of
from .search import PAGE_SIZE, BadQuery, count, event_key, find, parse_page, parse_search
from .store import file_names
from .web_config import WebSettings
from .web_extensions import WebContext, WebExtension, default_extensions
from .web_metrics import registry_for

log = logging.getLogger(__name__)

FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.r[0-9]{1,9})?(_mugshot\.jpg|_crop\.jpg|_profile\.jpg|\.json)$")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PICTURES = ("mugshot", "profile", "crop")  # the order the event page shows them in
NUMBER = re.compile(r"^[0-9]{1,18}$")  # an id, a limit or a revision from a URL: plain ASCII digits, fits SQLite
MAX_FAILED_LOGINS = 10  # per client in FAILED_LOGIN_WINDOW seconds; then 429 until the window has passed
FAILED_LOGIN_WINDOW = 60.0
MAX_CLIENTS_TRACKED = 10_000


def summary(event) -> dict:
    """What the gallery shows of an event, as JSON (the page inserts it as text)."""
    return {"id": event.id, "device": event.device, "camera": event.camera, "event_id": event.event_id,
            "revision": event.revision, "best_seen": event.best_seen, "day": event.day,
            "generator": str(event.meta.get("generator", "")), "yaw": event.meta["pose"]["yaw"],
            "url": f"/events/{event.device}/{event.event_id}",
            "mugshot": f"/files/{event.device}/{event.event_id}_mugshot.jpg",
            "crop": f"/files/{event.device}/{event.event_id}_crop.jpg",
            "mugshot_width": event.meta["images"]["mugshot"]["width"],
            "crop_width": event.meta["images"]["crop"]["width"],
            "view": view_of(event.meta),
            "profile": f"/files/{event.device}/{event.event_id}_profile.jpg"
            if "profile" in event.meta["images"] else None} | _profile_summary(event)


def _profile_summary(event) -> dict:
    """The profile picture's width and the pose it was seen at, when the track showed its side."""
    described = event.meta["images"].get("profile")
    if not isinstance(described, dict):
        return {}
    return {"profile_width": described["width"], "profile_yaw": event.meta.get("profile_pose", {}).get("yaw")}


class Auth(BaseHTTPMiddleware):
    """The password/token check.  A wrong one is logged with the client's address, and a client
    with MAX_FAILED_LOGINS failures in FAILED_LOGIN_WINDOW seconds gets 429 (even with the right
    one) until the window has passed.  A request with no credentials at all (a browser before it
    asks for them) is not a failed login."""

    def __init__(self, app, token: str | None):
        super().__init__(app)
        self.token = token
        self.failures: dict[str, deque] = {}

    async def dispatch(self, request: Request, call_next):
        if self.token is not None and request.url.path != "/healthz":
            client = request.client.host if request.client else "-"
            now = time.monotonic()
            recent = self.failures.get(client)
            while recent and recent[0] < now - FAILED_LOGIN_WINDOW:
                recent.popleft()
            if recent is not None and not recent:
                del self.failures[client]
            if recent and len(recent) >= MAX_FAILED_LOGINS:
                wait = int(recent[0] + FAILED_LOGIN_WINDOW - now) + 1
                return Response("too many failed logins: try again later\n", status_code=429,
                                headers={"Retry-After": str(wait)})
            if not self._allowed(request):
                if request.headers.get("authorization"):
                    self._failed(client, request.url.path, now)
                return Response("password or token needed\n", status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="mugshot-receive", charset="UTF-8"'})
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def _allowed(self, request: Request) -> bool:
        return authorized(request, self.token)

    def _failed(self, client: str, path: str, now: float) -> None:
        if client not in self.failures and len(self.failures) >= MAX_CLIENTS_TRACKED:
            del self.failures[next(iter(self.failures))]  # the longest-tracked client
        recent = self.failures.setdefault(client, deque())
        recent.append(now)
        if len(recent) >= MAX_FAILED_LOGINS:
            log.warning("failed login from %s to %s: %d in %g s, refused for %g s", client, path, len(recent),
                        FAILED_LOGIN_WINDOW, FAILED_LOGIN_WINDOW)
        else:
            log.warning("failed login from %s to %s (%d in the last %g s)", client, path, len(recent),
                        FAILED_LOGIN_WINDOW)


def authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    given = ""
    if scheme.lower() == "bearer":
        given = value.strip()
    elif scheme.lower() == "basic":
        try:
            given = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def create_app(receiver: Receiver, token: str | None = None, poll_ms: int = 1000,
               extensions: Sequence[WebExtension] | None = None) -> Starlette:
    index, store = receiver.store.index, receiver.store
    registry = registry_for(receiver)
    extensions = default_extensions(receiver) if extensions is None else extensions
    person_filter = next((e.person_filter for e in extensions if e.person_filter), None)
    nav = [link for e in extensions for link in e.nav]

    def render(name: str, **context) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(nav=nav, **context))

    async def gallery(request: Request):
        try:
            search, page = parse_search(request.query_params), parse_page(request.query_params)
            found = find(index, search, page, person_filter)
        except BadQuery as exc:
            return Response(f"{exc}\n", status_code=400, media_type="text/plain")
        events = found.events
        return render("gallery.html", events=[summary(e) for e in events], search=search,
                      choices=index.choices() | {"view": VIEWS}, person_search=person_filter is not None,
                      total=index.query("SELECT value FROM totals WHERE name='events'")[0][0],
                      matching=count(index, search, person_filter) if search.active() else None,
                      older=search.params(before=found.next, limit=page.limit if page.limit != PAGE_SIZE else None)
                      if found.next else None,
                      paged=bool(page.before), newest=search.params(), ignored=found.ignored,
                      latest=max((e.id for e in events), default=0), poll_ms=poll_ms)

    async def api_events(request: Request):
        try:
            search, page = parse_search(request.query_params), parse_page(request.query_params)
            found = find(index, search, page, person_filter)
        except BadQuery as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        with index.lock:
            total = index.totals()[0]
        answer = {"events": [summary(e) for e in found.events], "total": total, "next": found.next,
                  "limit": page.limit}
        if found.ignored:
            answer["ignored"] = found.ignored  # ``person`` with no people module serving it
        return JSONResponse(answer)

    async def event_page(request: Request):
        device, event_id = request.path_params["device"], request.path_params["event_id"]
        if not event_key(device, event_id):
            return Response("no such event\n", status_code=404)
        with index.lock:
            event = index.stored(device, event_id)
        if event is None:
            return Response("no such event\n", status_code=404)
        revisions = index.revisions(device, event_id)
        meta, folder, names = event.meta, f"/files/{device}", file_names(event_id)
        wanted = request.query_params.get("revision", "")
        if wanted and wanted != str(event.revision):
            meta = index.revision_meta(device, event_id, int(wanted)) if NUMBER.match(wanted) else None
            if meta is None:
                return Response("no such revision\n", status_code=404)
            folder, names = f"/files/{device}/revisions", file_names(event_id, int(wanted))
        pictures = [name for name in PICTURES if name in meta["images"]]
        size = max(meta["images"][name]["width"] for name in pictures)  # all shown at the largest one's size
        return render("event.html", event=event, meta=meta, revisions=revisions, folder=folder,
                      names=names | {"profile": names["mugshot"].replace("_mugshot.jpg", "_profile.jpg")},
                      pictures=pictures, size=size, view=view_of(meta), document=json.dumps(meta, indent=2))

    async def files(request: Request):
        device, name = request.path_params["device"], request.path_params["name"]
        sub = request.path_params.get("sub")
        revisions = sub == "revisions"
        if sub not in (None, "revisions") or not (NAME.match(device) and FILE_NAME.match(name)) \
                or (".r" in name) != revisions:
            return Response("not found\n", status_code=404)
        try:
            with store.folder.open_read((device, "revisions") if revisions else (device,), name) as f:
                data = f.read()
        except OSError:
            return Response("not found\n", status_code=404)
        kind = "application/json" if name.endswith(".json") else "image/jpeg"
        return Response(data, media_type=kind, headers={"Cache-Control": "private, max-age=3600"})

    async def healthz(request: Request):
        connected = receiver.connected()
        missing = receiver.missing()
        body = {"status": "ok" if connected else "broker disconnected",
                "broker": "connected" if connected else "disconnected",
                "missing_events": sum(n for n, _ in missing.values())}
        if token is None or authorized(request, token):  # which boxes: only for those who may see them
            body["missing"] = {device: {"count": n, "ranges": format_ranges(ranges)}
                               for device, (n, ranges) in sorted(missing.items())}
        return JSONResponse(body, status_code=200 if connected else 503)

    async def metrics(request: Request):
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    context = WebContext(receiver, render, summary)
    routes = [  # every route of the app, in one place: its own, then each extension's
        Route("/", gallery),
        Route("/api/events", api_events),
        Route("/events/{device}/{event_id}", event_page),
        Route("/files/{device}/{name}", files),
        Route("/files/{device}/{sub}/{name}", files),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        *web_browse.routes(context, person_filter),
        *(route for extension in extensions for route in extension.routes(context)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Auth, token=token)])


class WebServer:
    def __init__(self, receiver: Receiver, settings: WebSettings):
        config = uvicorn.Config(create_app(receiver, settings.token), host=settings.host, port=settings.port,
                                log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="receiver-web", daemon=True)

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve(receiver: Receiver, settings: WebSettings) -> WebServer:
    server = WebServer(receiver, settings).start()
    for _ in range(200):
        if server.server.started or not server.thread.is_alive():
            break
        threading.Event().wait(0.05)
    if not server.server.started:
        raise OSError(f"the web gallery could not listen on {settings.host}:{settings.port}")
    log.info("web gallery on %s%s", settings.url, " (password/token required)" if settings.token else "")
    return server
