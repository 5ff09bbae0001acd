"""People pages and API of ``mugshot-receive --http`` (registered by ``edge.receiver.web``, behind
its password/token like every other page).

- ``GET /people``: everyone seen, newest sighting first; ``GET /people/{id}``: one person's
  sightings, newest first (time, box, camera, view), with forms to name, merge, split off
  events, forget (optionally with their events) and add a photo (named people only).
- ``GET /api/people`` (id, name or null, event count, last seen) and ``GET /api/people/{id}``
  (the same plus every sighting).
- ``POST /api/people/{id}/name|merge|split|forget`` take JSON or a form; ``POST
  /api/people/{id}/photos`` takes the JPEG/PNG itself as the body; ``POST /api/people`` makes a
  named person (JSON ``{"name": ...}``).  The pages' forms post to the same URLs and are sent
  back to the page (303).
A POST from another site is refused (``Origin``/``Sec-Fetch-Site``): a browser that holds the
password must not be made to rename or forget people by a page elsewhere.
"""
from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..schema import EVENT_ID, NAME
from .store import PeopleError

log = logging.getLogger(__name__)

PERSON_ID = re.compile(r"^[0-9]{1,18}$")
PERSON_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
FORM_BYTES = 64_000
PHOTO_BYTES = 10_000_000


class BadRequest(ValueError):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(f"the request body is over {limit} bytes")
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise BadRequest(f"the request body is over {limit} bytes")
    return data


async def _fields(request: Request) -> dict[str, list[str]]:
    data = await _body(request, FORM_BYTES)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            value = json.loads(data or b"{}")
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(value, dict):
            raise BadRequest("the body must be a JSON object")
        return {k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in value.items()
                if isinstance(v, (str, int, bool, list))}
    try:
        return parse_qs(data.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form is not UTF-8 url-encoded") from None


def _same_site(request: Request) -> bool:
    """A browser says where a request comes from in ``Sec-Fetch-Site`` (its form posts carry ``Origin:
    null`` under this app's no-referrer policy); other clients may name an ``Origin``, which must be this
    host; a client that sends neither (curl, scripts with the token) is not a browser tricked by a page."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")


def people_routes(service, render) -> list[Route]:
    people = service.people

    def person_id(request: Request) -> int | None:
        raw = request.path_params["person_id"]
        return int(raw) if PERSON_ID.match(raw) else None

    def answer(request: Request, pid: int | None, payload: dict, status: int = 200):
        if request.url.path.startswith("/api/") and "text/html" not in request.headers.get("accept", ""):
            return JSONResponse(payload, status_code=status)
        if status >= 400:
            return Response(f"{payload.get('error', 'error')}\n", status_code=status, media_type="text/plain")
        target = f"/people/{pid}" if pid is not None and people.person(pid) is not None else "/people"
        return RedirectResponse(target, status_code=303)

    async def list_page(request: Request):
        listed = people.listing()
        faces = {p.id: _face(p.id) for p in listed}
        return render("people.html", people=[p.summary() for p in listed], faces=faces)

    def _face(pid: int) -> str | None:
        seen = people.sightings(pid)
        return seen[0]["crop"] if seen else None

    async def person_page(request: Request):
        pid = person_id(request)
        person = people.person(pid) if pid is not None else None
        if person is None:
            return Response("no such person\n", status_code=404)
        others = [p.summary() for p in people.listing() if p.id != pid]
        return render("person.html", person=person.summary(), sightings=people.sightings(pid), others=others)

    async def api_list(request: Request):
        return JSONResponse({"people": [p.summary() for p in people.listing()]})

    async def api_person(request: Request):
        pid = person_id(request)
        person = people.person(pid) if pid is not None else None
        if person is None:
            return JSONResponse({"error": "no such person"}, status_code=404)
        return JSONResponse(person.summary() | {"sightings": people.sightings(pid)})

    async def api_create(request: Request):
        if not _same_site(request):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        try:
            name = (await _fields(request)).get("name", [""])[0].strip()
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if not PERSON_NAME.match(name):
            return answer(request, None, {"error": "name: 1 to 64 characters, no control characters"}, 400)
        pid = people.new_named(name)
        return answer(request, pid, people.person(pid).summary(), 201)

    async def act(request: Request):
        if not _same_site(request):
            return Response("cross-site request refused\n", status_code=403)
        pid, action = person_id(request), request.path_params["action"]
        if pid is None or people.person(pid) is None:
            return answer(request, None, {"error": "no such person"}, 404)
        try:
            if action == "photos":
                data = await _body(request, PHOTO_BYTES)
                service.add_photo(pid, data)
                return answer(request, pid, people.person(pid).summary())
            fields = await _fields(request)
            if action == "name":
                name = fields.get("name", [""])[0].strip()
                if name and not PERSON_NAME.match(name):
                    raise BadRequest("name: 1 to 64 characters, no control characters")
                people.rename(pid, name or None)
                person = people.person(pid)
                return answer(request, pid, person.summary() if person else {"id": pid, "name": None})
            if action == "merge":
                into = fields.get("into", [""])[0]
                if not PERSON_ID.match(into):
                    raise BadRequest("into: the id of the person to merge into")
                people.merge(pid, int(into))
                return answer(request, int(into), people.person(int(into)).summary())
            if action == "split":
                events = []
                for value in fields.get("event", []):
                    device, _, event_id = value.partition("/")
                    if not (NAME.match(device) and EVENT_ID.match(event_id)):
                        raise BadRequest(f"event: expected DEVICE/EVENT_ID, got {value[:80]!r}")
                    events.append((device, event_id))
                new = people.split(pid, events)
                return answer(request, new, people.person(new).summary())
            if action == "forget":
                with_events = fields.get("delete_events", ["0"])[0].lower() in ("1", "true", "on", "yes")
                seen, deleted = service.forget(pid, with_events)
                return answer(request, None, {"forgotten": pid, "events_seen": seen, "events_deleted": deleted})
        except BadRequest as exc:
            return answer(request, pid, {"error": str(exc)}, 400)
        except PeopleError as exc:
            text = str(exc)
            status = 404 if text.startswith("no person") else 400 if text.startswith("photo:") else 409
            return answer(request, pid, {"error": text}, status)
        return answer(request, pid, {"error": "no such action"}, 404)

    return [
        Route("/people", list_page),
        Route("/people/{person_id}", person_page),
        Route("/api/people", api_list, methods=["GET"]),
        Route("/api/people", api_create, methods=["POST"]),
        Route("/api/people/{person_id}", api_person),
        Route("/api/people/{person_id}/{action}", act, methods=["POST"]),
    ]
