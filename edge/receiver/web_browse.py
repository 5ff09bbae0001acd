"""The web app's work on stored events beyond the gallery: one event as JSON, delete, download
(a zip of its pictures and JSON), export of a search (CSV or JSON), and the day timeline.

Every device and event id from a URL must be a plain name (else 404) and every query
parameter is read by ``search`` (else 400), so nothing from a URL reaches a path or SQL
unchecked.  Deleting is ``DELETE`` only: a page from another site cannot send one (no CORS
here), and a form cannot.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .index import _COLUMNS, StoredEvent, _event
from .schema import NAME, view_of
from .search import DAY, BadQuery, Search, each, event_key, parse_search
from .store import file_names
from .web_extensions import WebContext

log = logging.getLogger(__name__)

CSV_COLUMNS = ("device", "camera", "event_id", "revision", "best_seen", "view", "yaw", "pitch", "roll",
               "generator", "sequence", "received", "page")
THUMBS_PER_HOUR = 12


def image_names(event: StoredEvent) -> list[str]:
    """The pictures an event has (``mugshot``, ``crop`` and, from newer boxes, ``profile``)."""
    return [name for name in event.meta.get("images", {}) if NAME.match(name)]


def _cell(value) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula (numbers stay numbers)."""
    if value is None or isinstance(value, (int, float)):
        return "" if value is None else str(value)
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_row(event: StoredEvent) -> list[str]:
    pose = event.meta.get("pose", {})
    values = {"device": event.device, "camera": event.camera, "event_id": event.event_id,
              "revision": event.revision, "best_seen": event.best_seen, "view": view_of(event.meta),
              "yaw": pose.get("yaw"), "pitch": pose.get("pitch"), "roll": pose.get("roll"),
              "generator": event.meta.get("generator", ""), "sequence": event.meta.get("sequence"),
              "received": event.received, "page": f"/events/{event.device}/{event.event_id}"}
    return [_cell(values[c]) for c in CSV_COLUMNS]


def routes(context: WebContext, person_filter) -> list[Route]:
    receiver = context.receiver
    store, index = receiver.store, receiver.store.index

    def stored(request: Request) -> StoredEvent | None:
        device, event_id = request.path_params["device"], request.path_params["event_id"]
        if not event_key(device, event_id):
            return None
        with index.lock:
            return index.stored(device, event_id)

    async def one_event(request: Request):
        event = stored(request)
        if event is None:
            return JSONResponse({"error": "no such event"}, status_code=404)
        if request.method == "DELETE":
            with index.transaction():
                event = index.stored(event.device, event.event_id)
                freed = store.delete(event) if event is not None else 0
            if event is None:
                return JSONResponse({"error": "no such event"}, status_code=404)
            receiver.changed.set()  # the static index.html is redrawn without it
            log.info("event %s/%s deleted from the web app (%d bytes)", event.device, event.event_id, freed)
            return Response(status_code=204)
        return JSONResponse({"id": event.id, "device": event.device, "camera": event.camera,
                             "event_id": event.event_id, "revision": event.revision, "received": event.received,
                             "meta": event.meta})

    async def download(request: Request):
        event = stored(request)
        if event is None:
            return Response("no such event\n", status_code=404)
        names = file_names(event.event_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name in ["json", *image_names(event)]:
                file_name = names.get(name, f"{event.event_id}_{name}.jpg")
                try:
                    archive.writestr(file_name, store.read(event.device, file_name))
                except OSError:
                    log.warning("event %s/%s: %s missing from its folder", event.device, event.event_id, file_name)
        return Response(buffer.getvalue(), media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{event.device}_{event.event_id}.zip"'})

    async def export(request: Request):
        try:
            search = parse_search(request.query_params)
            kind = request.query_params.get("format", "csv")
            if kind not in ("csv", "json"):
                raise BadQuery(f"format: expected csv or json, got {kind[:40]!r}")
            search.where(person_filter)  # a bad person is refused before anything is sent
        except BadQuery as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        name = "mugshot-events" + "".join(f"_{v[:19]}" for v in (search.since, search.until) if v)
        name = "".join(c if c.isalnum() or c in "_-" else "-" for c in name)
        return StreamingResponse(_csv(index, search, person_filter) if kind == "csv"
                                 else _json(index, search, person_filter),
                                 media_type="text/csv; charset=utf-8" if kind == "csv" else "application/json",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'})

    async def timeline_page(request: Request):
        try:
            day = _day(request, index)
            search = parse_search(request.query_params)
            hours = timeline(index, search, day, person_filter, context.summary)
        except BadQuery as exc:
            return Response(f"{exc}\n", status_code=400, media_type="text/plain")
        days = [d for (d,) in index.query("SELECT DISTINCT day FROM events ORDER BY day")]
        earlier, later = [d for d in days if d < day], [d for d in days if d > day]
        filters = search.params()
        filters.pop("day", None)
        return context.render("timeline.html", day=day, hours=hours, search=filters,
                              most=max([h["count"] for h in hours] + [1]), total=sum(h["count"] for h in hours),
                              earlier=earlier[-1] if earlier else "", later=later[0] if later else "")

    async def timeline_api(request: Request):
        try:
            day = _day(request, index)
            hours = timeline(index, parse_search(request.query_params), day, person_filter,
                             context.summary)
        except BadQuery as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"day": day, "hours": hours})

    return [
        Route("/api/events/{device}/{event_id}", one_event, methods=["GET", "DELETE"]),
        Route("/events/{device}/{event_id}/download", download),
        Route("/api/export", export),
        Route("/timeline", timeline_page),
        Route("/api/timeline", timeline_api),
    ]


def _csv(index, search: Search, person_filter):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for i, event in enumerate(each(index, search, person_filter)):
        writer.writerow(csv_row(event))
        if i % 200 == 199:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _json(index, search: Search, person_filter):
    yield "["
    for i, event in enumerate(each(index, search, person_filter)):
        yield ("," if i else "") + "\n" + json.dumps(event.meta | {"received": event.received})
    yield "\n]\n"


def _day(request: Request, index) -> str:
    """The ``day`` asked for, else the newest day with events, else today (UTC)."""
    day = request.query_params.get("day", "")
    if not day:
        return index.query("SELECT MAX(day) FROM events")[0][0] or date.today().isoformat()
    try:
        if DAY.match(day):
            return date.fromisoformat(day).isoformat()
    except ValueError:
        pass
    raise BadQuery(f"day: expected a day as YYYY-MM-DD, got {day[:40]!r}")


def timeline(index, search: Search, day: str, person_filter, summary) -> list[dict]:
    """The day's events by hour of ``best_seen``: 24 rows of a count and the newest few events."""
    search = Search(**(search.params() | {"day": day}))
    where, args, _ = search.where(person_filter)
    clause = " AND ".join(where)
    counts = dict(index.query(f"SELECT substr(best_seen, 12, 2), COUNT(*) FROM events WHERE {clause} "
                              f"GROUP BY 1", args))
    hours = []
    for hour in range(24):
        label = f"{hour:02d}"
        n = counts.get(label, 0)
        shown = []
        if n:
            rows = index.query(f"SELECT {_COLUMNS} FROM events WHERE {clause} AND substr(best_seen, 12, 2) = ? "
                               f"ORDER BY best_seen DESC LIMIT ?", (*args, label, THUMBS_PER_HOUR))
            shown = [summary(_event(r)) for r in rows]
        end = (date.fromisoformat(day) + timedelta(days=1)).isoformat() + "T00:00" if hour == 23 \
            else f"{day}T{hour + 1:02d}:00"
        hours.append({"hour": label, "count": n, "events": shown, "since": f"{day}T{label}:00", "until": end})
    return hours

