"""Search and pagination over the stored events, for the web app and its API.

A search is read from query parameters, each checked once (a bad value is a one-line
``BadQuery`` naming the parameter, answered 400), and turned into SQL with every value a
bound parameter:

- ``device``, ``camera``: exact names; ``day``: ``YYYY-MM-DD`` (the day of ``best_seen``);
- ``since``, ``until``: a time range on ``best_seen``, ISO 8601 (``2026-12-05``,
  ``2026-12-05T08:30``; UTC unless it names its offset), ``since`` inclusive, ``until`` exclusive;
- ``view``: ``frontal``, ``three-quarter`` or ``profile``;
- ``q``: text found in the box, camera or event id;
- ``person``: served by a web extension that knows people (``PersonFilter``); with none,
  it is ignored and the API says so.

Pages are newest first (by the order events were stored) and continue with the opaque
cursor ``before`` (the ``next`` of the previous page): a page is one indexed range scan
whatever is stored.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone

from .index import _COLUMNS, EventIndex, StoredEvent, _event
from .schema import EVENT_ID, NAME, VIEWS

PAGE_SIZE = 60
MAX_PAGE = 500
DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
QUERY_TEXT = re.compile(r"^[^\x00-\x1f\x7f]{0,64}$")

# (person parameter) -> (SQL condition over the events table, its arguments); raises BadQuery
PersonFilter = Callable[[str], tuple[str, tuple]]


class BadQuery(ValueError):
    """A query parameter that is not what it should be; the text names it."""


@dataclass(frozen=True)
class Search:
    device: str = ""
    camera: str = ""
    day: str = ""
    since: str = ""
    until: str = ""
    view: str = ""
    q: str = ""
    person: str = ""

    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def params(self, **extra) -> dict[str, str]:
        """The search as query parameters (empty ones left out), plus ``extra``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)} | \
            {k: str(v) for k, v in extra.items() if v not in (None, "")}

    def where(self, person_filter: PersonFilter | None = None) -> tuple[list[str], list, list[str]]:
        """SQL conditions, their arguments, and the parameters ignored (``person`` with no filter)."""
        where, args, ignored = [], [], []
        for column in ("device", "camera", "day", "view"):
            if getattr(self, column):
                where.append(f"{column} = ?")
                args.append(getattr(self, column))
        if self.since:
            where.append("seen >= ?")
            args.append(_seconds(self.since))
        if self.until:
            where.append("seen < ?")
            args.append(_seconds(self.until))
        if self.q:
            like = "%" + re.sub(r"([\\%_])", r"\\\1", self.q) + "%"
            where.append("(device LIKE ? ESCAPE '\\' OR camera LIKE ? ESCAPE '\\' OR event_id LIKE ? ESCAPE '\\')")
            args += [like, like, like]
        if self.person:
            if person_filter is None:
                ignored.append("person")
            else:
                sql, person_args = person_filter(self.person)
                where.append(f"({sql})")
                args += list(person_args)
        return where, args, ignored


def _time(key: str, value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{key}: expected an ISO 8601 date or time such as 2026-12-05T08:30, got {value[:40]!r}") \
            from None
    return value


def _seconds(value: str) -> float:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def parse_search(params: Mapping[str, str]) -> Search:
    values = {}
    for key, pattern, wanted in (("device", NAME, "a box name"), ("camera", NAME, "a camera name"),
                                 ("day", DAY, "a day as YYYY-MM-DD"), ("q", QUERY_TEXT, "up to 64 characters"),
                                 ("person", QUERY_TEXT, "a person")):
        value = params.get(key, "").strip()
        if value and not pattern.match(value):
            raise BadQuery(f"{key}: expected {wanted}, got {value[:40]!r}")
        values[key] = value
    for key in ("since", "until"):
        value = params.get(key, "").strip()
        values[key] = _time(key, value) if value else ""
    view = params.get("view", "").strip()
    if view and view not in VIEWS:
        raise BadQuery(f"view: expected one of {', '.join(VIEWS)}, got {view[:40]!r}")
    values["view"] = view
    return Search(**values)


def _count(params: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    value = params.get(key, "")
    if value == "":
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise BadQuery(f"{key}: expected a whole number, got {value[:40]!r}")
    if not low <= int(value) <= high:
        raise BadQuery(f"{key}: expected {low} to {high}, got {value}")
    return int(value)


@dataclass(frozen=True)
class PageRequest:
    before: int = 0  # 0: from the newest
    after: int = 0  # only events stored after this id (the live gallery's poll)
    limit: int = PAGE_SIZE
    oldest: bool = False  # order=oldest: oldest first (the live gallery pages through what arrived since `after`)


def parse_page(params: Mapping[str, str], default_limit: int = PAGE_SIZE) -> PageRequest:
    order = params.get("order", "newest")
    if order not in ("newest", "oldest"):
        raise BadQuery(f"order: expected newest or oldest, got {order[:40]!r}")
    return PageRequest(before=_count(params, "before", 0, 1, 2**62),
                       after=_count(params, "after", 0, 0, 2**62),
                       limit=_count(params, "limit", default_limit, 1, MAX_PAGE), oldest=order == "oldest")


@dataclass(frozen=True)
class Page:
    events: list[StoredEvent]
    next: int | None  # the cursor for the next (older) page; None on the last page
    ignored: list[str]


def find(index: EventIndex, search: Search, page: PageRequest = PageRequest(),
         person_filter: PersonFilter | None = None) -> Page:
    where, args, ignored = search.where(person_filter)
    if page.before:
        where.append("id < ?")
        args.append(page.before)
    if page.after:
        where.append("id > ?")
        args.append(page.after)
    sql = f"SELECT {_COLUMNS} FROM events {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id {'' if page.oldest else 'DESC'} LIMIT ?"
    rows = index.query(sql, (*args, page.limit + 1))
    events = [_event(r) for r in rows[:page.limit]]
    return Page(events, events[-1].id if len(rows) > page.limit else None, ignored)


def count(index: EventIndex, search: Search, person_filter: PersonFilter | None = None) -> int:
    where, args, _ = search.where(person_filter)
    return index.query(f"SELECT COUNT(*) FROM events {'WHERE ' + ' AND '.join(where) if where else ''}", args)[0][0]


def each(index: EventIndex, search: Search, person_filter: PersonFilter | None = None, batch: int = 500):
    """Every matching event, newest first, read a batch at a time (for exports)."""
    request = PageRequest(limit=batch)
    while True:
        page = find(index, search, request, person_filter)
        yield from page.events
        if page.next is None:
            return
        request = PageRequest(before=page.next, limit=batch)


def event_key(device: str, event_id: str) -> bool:
    """Whether a device and event id from a URL are plain names (else: not found)."""
    return bool(NAME.match(device) and EVENT_ID.match(event_id))
