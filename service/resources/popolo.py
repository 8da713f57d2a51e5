"""The people side of Accord as one Popolo JSON document (https://www.popoloproject.com/specs/),
and back: what an application built on Popolo (EveryPolitician's tools, a parliamentary
monitoring site) reads without knowing Accord.

How Accord maps onto Popolo (every id is the Accord record's id, so exports are stable):

- ``persons`` ← officials: ``name``; ``other_names`` (``name``, and ``lang`` and ``note`` where
  known: ``lang`` is the extension EveryPolitician uses for names in other languages);
  ``identifiers`` (``scheme: "wikidata"``); ``national_identity`` is the name of the state of
  the official's nationality; ``sources`` are the URLs of the sources it cites.
- ``organizations`` ← organizations: ``classification`` is the ``kind``, ``parent_id``,
  ``other_names``, ``area_id`` the country (``ocd-division/country:ua``, an Open Civic Data
  division id, listed in ``areas`` with its ISO 3166-1 code); and ← delegations, each a team
  with ``classification: "delegation"`` whose ``parent_id`` is the party it speaks for.
- ``posts`` ← posts: ``label`` and ``role`` are the title, ``organization_id``.
- ``memberships`` ← tenures (derived from effective role changes), one each: its ``id`` is the
  role change that began it, ``person_id``, ``organization_id`` (the post's), ``post_id``,
  ``role`` (the post's title, ``Acting …`` for an acting tenure). ``start_date`` is the date
  of the change that began it and ``end_date`` that of the change that ended it, each at that
  change's precision. Accord counts a dismissal's date as the first day the post was no
  longer held (``/v1/posts/{id}/holders?at=`` answers the successor on that day), Popolo's
  ``end_date`` is the last day held: so at day precision ``end_date`` is the day before the
  dismissal; at month or year precision it is the dismissal's month or year (the last day
  held lies in it, unless the change took effect on its very first day, which that
  precision cannot say).
- ``memberships`` ← delegation members: ``organization_id`` is the delegation, ``on_behalf_of_id``
  the party, ``legislative_period_id`` the negotiation (the event the membership belongs to),
  ``role`` the delegation role (``head``…); ``start_date`` the member's own, else the start of
  the first round in that role; ``end_date`` (the last day, as in Accord) the member's own,
  else the end (or start) of the last round. Its ``id`` is ``{delegation id}/members/{n}``.
- ``events`` ← negotiations (``classification: "negotiation"``) and their rounds
  (``classification: "round"``, ``parent_id`` the negotiation), with ``status``, dates at
  their precision, ``location`` (place, city, country) and, for a round, its outcome as the
  ``description``.

Not carried (Popolo has no place for them): role changes that made no tenure (nominations,
proposals, withdrawn or announced changes) and whether a tenure ended by dismissal or
resignation; announced dates; whether a post has one holder at a time; notes; citations other
than as source URLs; the rounds that bound a delegation membership (their dates are); a
negotiation's parties (but as those its delegations speak for) and mediators; a round's venue
(but as one line of text), delegations present, agenda and ordinal (but as the events' order).

The document is built with one query per section, rows read through a cursor in batches and
sent as they come (``popolo_chunks``), so an export of any size holds one batch in memory.
``popolo_records`` turns a Popolo document back into Accord's import lines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date, timedelta
from itertools import pairwise
from typing import Any, get_args

import asyncpg
import msgspec

from service.core.database import AnyConnection
from service.resources.negotiations import NegotiationStatus
from service.resources.organizations import OrganizationKind
from service.resources.rounds import RoundStatus

# --- structs -----------------------------------------------------------------------------------


class _Popolo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Popolo leaves out what is unknown rather than writing null."""


class PopoloOtherName(_Popolo, kw_only=True):
    """An alternate name: another script, a transliteration, a former name."""

    name: str
    lang: str | None = None
    """BCP 47 language tag of the name (an extension EveryPolitician uses)."""
    note: str | None = None


class PopoloIdentifier(_Popolo, kw_only=True):
    """An identifier issued by a scheme: `wikidata` (a QID), `iso3166-1` (a country code)."""

    identifier: str
    scheme: str


class PopoloLink(_Popolo, kw_only=True):
    """A URL, with what it is."""

    url: str
    note: str | None = None


class PopoloPerson(_Popolo, kw_only=True):
    """An Accord official."""

    id: str
    name: str
    other_names: list[PopoloOtherName] = []
    identifiers: list[PopoloIdentifier] = []
    national_identity: str | None = None
    """The name of the state of the official's nationality."""
    sources: list[PopoloLink] = []
    """The URLs of the sources the official's record cites."""
    created_at: str | None = None
    updated_at: str | None = None


class PopoloOrganization(_Popolo, kw_only=True):
    """An Accord organization, or a delegation (`classification: delegation`)."""

    id: str
    name: str | None = None
    classification: str
    """The organization's `kind` (`state`, `ministry`…), or `delegation`."""
    parent_id: str | None = None
    """The organization this one belongs to; for a delegation, the party it speaks for."""
    area_id: str | None = None
    """The country (an id among `areas`)."""
    other_names: list[PopoloOtherName] = []
    sources: list[PopoloLink] = []
    created_at: str | None = None
    updated_at: str | None = None


class PopoloArea(_Popolo, kw_only=True):
    """A country that organizations belong to."""

    id: str
    """An Open Civic Data division id: `ocd-division/country:ua`."""
    classification: str = "country"
    identifiers: list[PopoloIdentifier] = []


class PopoloPost(_Popolo, kw_only=True):
    """An Accord post."""

    id: str
    label: str
    role: str
    organization_id: str
    sources: list[PopoloLink] = []
    created_at: str | None = None
    updated_at: str | None = None


class PopoloMembership(_Popolo, kw_only=True):
    """A tenure of a post, or a place on a delegation."""

    id: str
    person_id: str
    organization_id: str
    post_id: str | None = None
    on_behalf_of_id: str | None = None
    """For a delegation member: the party the delegation speaks for."""
    legislative_period_id: str | None = None
    """For a delegation member: the negotiation (an event)."""
    role: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    """The last day held, at the precision known."""


class PopoloEvent(_Popolo, kw_only=True):
    """A negotiation, or one of its rounds."""

    id: str
    name: str
    classification: str
    """`negotiation` or `round`."""
    parent_id: str | None = None
    """A round's negotiation."""
    status: str
    start_date: str | None = None
    end_date: str | None = None
    location: str | None = None
    description: str | None = None
    """A round's outcome."""
    sources: list[PopoloLink] = []
    created_at: str | None = None
    updated_at: str | None = None


class PopoloDocument(msgspec.Struct, kw_only=True):
    """Accord's people side in Popolo JSON: who, in which organizations and posts, over which
    dates, on which delegations, at which events."""

    persons: list[PopoloPerson]
    organizations: list[PopoloOrganization]
    areas: list[PopoloArea]
    posts: list[PopoloPost]
    memberships: list[PopoloMembership]
    events: list[PopoloEvent]


# --- queries -----------------------------------------------------------------------------------


def _sources_of(alias: str) -> str:
    """The URLs of the sources a record cites, in its order, as Popolo links."""
    return (
        "coalesce((select jsonb_agg(jsonb_build_object('url', s.url, 'note', s.title) "
        f"order by c.position) from citations c join sources s on s.id = c.source_id "
        f"where c.record_id = {alias}.id and s.url is not null), '[]'::jsonb) as sources"
    )


_STAMPS = (
    "to_char({0}.created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as created_at, "
    "to_char({0}.updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as updated_at"
)

_PERSONS = f"""
select o.id::text, o.name, o.other_names,
       case when o.wikidata_id is null then '[]'::jsonb
            else jsonb_build_array(jsonb_build_object('identifier', o.wikidata_id,
                                                      'scheme', 'wikidata')) end as identifiers,
       n.name as national_identity, {_sources_of("o")}, {_STAMPS.format("o")}
  from officials o left join organizations n on n.id = o.nationality_id
 order by o.id"""

_ORGANIZATIONS = f"""
select o.id::text, o.name, o.kind as classification, o.parent_id::text,
       'ocd-division/country:' || lower(o.country_code) as area_id, o.other_names,
       {_sources_of("o")}, {_STAMPS.format("o")}
  from organizations o
 order by o.id"""

_DELEGATIONS = f"""
select d.id::text, d.name, 'delegation' as classification, d.party_id::text as parent_id,
       null as area_id, '[]'::jsonb as other_names, {_sources_of("d")}, {_STAMPS.format("d")}
  from delegations d
 order by d.id"""

_AREAS = """
select 'ocd-division/country:' || lower(country_code) as id,
       jsonb_build_array(jsonb_build_object('identifier', country_code,
                                            'scheme', 'iso3166-1')) as identifiers
  from (select distinct country_code from organizations where country_code is not null) c
 order by country_code"""

_POSTS = f"""
select p.id::text, p.title as label, p.title as role, p.organization_id::text,
       {_sources_of("p")}, {_STAMPS.format("p")}
  from posts p
 order by p.id"""

_TENURES = """
select t.start_change_id::text as id, t.official_id::text as person_id,
       p.organization_id::text, t.post_id::text,
       case when t.acting then 'Acting ' || p.title else p.title end as role,
       accord_partial_date(s.effective_date, s.effective_precision) as start_date,
       case e.effective_precision
            when 'day' then to_char(e.effective_date - 1, 'YYYY-MM-DD')
            else accord_partial_date(e.effective_date, e.effective_precision) end as end_date
  from tenures t
  join posts p on p.id = t.post_id
  join role_changes s on s.id = t.start_change_id
  left join role_changes e on e.id = t.end_change_id
 order by t.official_id, lower(t.period), t.start_change_id"""

_DELEGATION_MEMBERS = """
select m.delegation_id || '/members/' || m.position as id, m.official_id::text as person_id,
       m.delegation_id::text as organization_id, d.party_id::text as on_behalf_of_id,
       d.negotiation_id::text as legislative_period_id, m.role,
       coalesce(accord_partial_date(m.start_date, m.start_precision),
                accord_partial_date(f.start_date, f.start_precision)) as start_date,
       coalesce(accord_partial_date(m.end_date, m.end_precision),
                accord_partial_date(coalesce(l.end_date, l.start_date),
                                    case when l.end_date is null then l.start_precision
                                         else l.end_precision end)) as end_date
  from delegation_members m
  join delegations d on d.id = m.delegation_id
  left join rounds f on f.id = m.from_round_id
  left join rounds l on l.id = m.to_round_id
 order by m.delegation_id, m.position"""

_NEGOTIATIONS = f"""
select n.id::text, n.title as name, 'negotiation' as classification, null as parent_id,
       n.status, accord_partial_date(n.start_date, n.start_precision) as start_date,
       accord_partial_date(n.end_date, n.end_precision) as end_date, null as location,
       null as description, {_sources_of("n")}, {_STAMPS.format("n")}
  from negotiations n
 order by n.id"""

_ROUNDS = f"""
select r.id::text, n.title || ', round ' || r.ordinal as name, 'round' as classification,
       r.negotiation_id::text as parent_id, r.status,
       accord_partial_date(r.start_date, r.start_precision) as start_date,
       accord_partial_date(r.end_date, r.end_precision) as end_date,
       nullif(concat_ws(', ', r.venue_place, r.venue_city, r.venue_country_code), '')
           as location,
       r.outcome as description, {_sources_of("r")}, {_STAMPS.format("r")}
  from rounds r join negotiations n on n.id = r.negotiation_id
 order by n.id, r.ordinal"""

SECTIONS: tuple[tuple[str, tuple[str, ...], type[_Popolo]], ...] = (
    ("persons", (_PERSONS,), PopoloPerson),
    ("organizations", (_ORGANIZATIONS, _DELEGATIONS), PopoloOrganization),
    ("areas", (_AREAS,), PopoloArea),
    ("posts", (_POSTS,), PopoloPost),
    ("memberships", (_TENURES, _DELEGATION_MEMBERS), PopoloMembership),
    ("events", (_NEGOTIATIONS, _ROUNDS), PopoloEvent),
)
"""Each key of the document, the queries whose rows fill it (one after the other), and the
struct each row becomes."""

BATCH = 500
"""Rows read from the cursor, turned into JSON and sent at a time."""

MEDIA_TYPE = "application/json"


def _converter(struct: type[_Popolo]) -> Callable[[asyncpg.Record], bytes]:
    encode = msgspec.json.encode

    def convert(row: asyncpg.Record) -> bytes:
        fields = {name: value for name, value in row.items() if value is not None}
        return encode(msgspec.convert(fields, struct))

    return convert


async def popolo_chunks(conn: AnyConnection) -> AsyncIterator[bytes]:
    """The Popolo document as chunks of JSON text, section by section, ``BATCH`` rows at a
    time. Runs inside the caller's transaction (asyncpg cursors need one), so every section
    comes from the same snapshot."""
    yield b"{"
    for number, (key, queries, struct) in enumerate(SECTIONS):
        yield (b"," if number else b"") + b'"' + key.encode() + b'":['
        convert = _converter(struct)
        first = True
        for sql in queries:
            batch: list[bytes] = []
            async for row in conn.cursor(sql, prefetch=BATCH):
                batch.append(convert(row))
                if len(batch) == BATCH:
                    yield (b"" if first else b",") + b",".join(batch)
                    first, batch = False, []
            if batch:
                yield (b"" if first else b",") + b",".join(batch)
                first = False
        yield b"]"
    yield b"}"


# --- back from Popolo --------------------------------------------------------------------------

_ORGANIZATION_KINDS = frozenset(get_args(OrganizationKind))
_NEGOTIATION_STATUSES = frozenset(get_args(NegotiationStatus))
_ROUND_STATUSES = frozenset(get_args(RoundStatus))
_NAMESPACE = uuid.UUID("0193a0ff-0000-7000-8000-0000000000f0")
"""For the ids of records Popolo has no id for (the change that ended a tenure)."""


def _as_uuid(value: str) -> str:
    """An id from the document as an Accord id: itself when it is a UUID (a document Accord
    exported), else a UUID derived from it, the same every time."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, value))


def _other_names(names: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": n["name"], "lang": n.get("lang"), "note": n.get("note")}
        for n in names
        if n.get("name")
    ]


def _first_day_not_held(end_date: str) -> str:
    """The date of the change that ended a membership whose last day is ``end_date`` (the
    inverse of the export: the next day at day precision, the same period otherwise)."""
    if len(end_date) == 10:
        return (date.fromisoformat(end_date) + timedelta(days=1)).isoformat()
    return end_date


def _country(area_id: str | None, areas: dict[str, dict[str, Any]]) -> str | None:
    if area_id is None:
        return None
    for identifier in areas.get(area_id, {}).get("identifiers", []):
        if identifier.get("scheme") == "iso3166-1":
            return str(identifier["identifier"]).upper()
    prefix = "ocd-division/country:"
    if area_id.startswith(prefix) and len(area_id) == len(prefix) + 2:
        return area_id[len(prefix) :].upper()
    return None


def _stamps(popolo_object: dict[str, Any]) -> dict[str, Any]:
    """A Popolo object's ``created_at`` and ``updated_at`` (Popolo's own fields), as an import
    line keeps them."""
    return {
        name: popolo_object[name] for name in ("created_at", "updated_at") if name in popolo_object
    }


def popolo_records(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Accord's import lines for a Popolo document (a parsed ``GET /v1/export/popolo``, or any
    Popolo JSON using the same fields), by resource name in fill order: ``organizations``,
    ``officials``, ``posts``, ``role-changes``, ``negotiations``, ``rounds``, ``delegations``.

    Each line is a record's writable fields (what ``POST /v1/{resource}`` takes) plus its
    ``id``: the Popolo id where it is a UUID, else a UUID derived from it (so converting the
    same document twice gives the same ids), and its ``created_at``/``updated_at`` where the
    Popolo object has them (so a record comes back as it was exported). ``version`` and
    ``disputed`` are left to the import. What Popolo does not carry (see the
    module's docstring) comes back as its default: no notes, no citations, one-holder posts
    unless two memberships of a post overlap, role changes only for tenures.

    - organizations: every organization but delegations; ``kind`` from ``classification``
      (``other`` when it is none of Accord's kinds), ``country_code`` from ``area_id``.
    - officials: ``wikidata_id`` from the ``wikidata`` identifier; ``nationality_id`` is the
      organization named ``national_identity`` (a state, when several have that name).
    - role-changes, in the order they took effect: each membership with a ``post_id`` is an
      effective appointment (an acting appointment when its ``role`` is ``Acting`` + the
      post's label) at its ``start_date`` and, when it has an ``end_date``, an effective
      dismissal taking effect the day after (the same month or year at coarser precision) —
      except where an acting membership ends as a full one of the same post begins, which
      Accord's appointment itself closes. Together they re-create the tenures exported.
    - negotiations: each ``negotiation`` event whose delegations (below) name at least two
      parties, which become its ``parties``; ``title`` from ``name``, ``status`` (``active``
      unless it is one of Accord's), dates. No mediators: Popolo has no place for them.
    - rounds: each ``round`` event of such a negotiation (``parent_id``), numbered 1, 2…
      in document order (Accord's export lists them by ordinal); ``status`` (``proposed``
      unless one of Accord's), dates, ``outcome`` from ``description``, ``location`` as the
      venue's place; no mediators, delegations present or agenda.
    - delegations: each ``delegation`` organization with its memberships as ``members`` (in
      document order); ``party_id`` is its ``parent_id`` (else the members'
      ``on_behalf_of_id``), ``negotiation_id`` the members' ``legislative_period_id``. A
      delegation without both, or whose negotiation was left out, is left out: Accord
      cannot place it.

    Raises ``KeyError``/``TypeError``/``ValueError`` for a document without the fields above
    (a person without ``name``…); the import reports it as a bad file."""
    organizations = doc.get("organizations", [])
    areas = {area["id"]: area for area in doc.get("areas", [])}
    delegation_ids = {o["id"] for o in organizations if o.get("classification") == "delegation"}

    out_organizations = [
        {
            "id": _as_uuid(o["id"]),
            **_stamps(o),
            "name": o["name"],
            "kind": o["classification"]
            if o.get("classification") in _ORGANIZATION_KINDS
            else "other",
            "parent_id": _as_uuid(o["parent_id"]) if o.get("parent_id") else None,
            "country_code": _country(o.get("area_id"), areas),
            "other_names": _other_names(o.get("other_names", [])),
            "citations": [],
            "note": None,
        }
        for o in organizations
        if o["id"] not in delegation_ids
    ]

    by_name: dict[str, str] = {}
    for o in sorted(out_organizations, key=lambda o: o["kind"] == "state"):
        by_name[o["name"]] = o["id"]  # states last, so a state wins over its namesakes
    out_officials = [
        {
            "id": _as_uuid(p["id"]),
            **_stamps(p),
            "name": p["name"],
            "other_names": _other_names(p.get("other_names", [])),
            "wikidata_id": next(
                (
                    i["identifier"]
                    for i in p.get("identifiers", [])
                    if str(i.get("scheme", "")).lower() == "wikidata"
                ),
                None,
            ),
            "nationality_id": by_name.get(p.get("national_identity") or ""),
            "citations": [],
            "note": None,
        }
        for p in doc.get("persons", [])
    ]

    memberships = doc.get("memberships", [])
    tenures = [m for m in memberships if m.get("post_id")]
    posts = {p["id"]: p for p in doc.get("posts", [])}
    out_posts = [
        {
            "id": _as_uuid(p["id"]),
            **_stamps(p),
            "title": p["label"],
            "organization_id": _as_uuid(p["organization_id"]),
            "single_holder": not _overlap(m for m in tenures if m["post_id"] == p["id"]),
            "citations": [],
            "note": None,
        }
        for p in posts.values()
    ]

    out_changes: list[dict[str, Any]] = []
    starts = {(m["person_id"], m["post_id"], m.get("start_date")) for m in tenures}
    for m in tenures:
        post = posts.get(m["post_id"], {})
        acting = m.get("role") is not None and m["role"] == f"Acting {post.get('label')}"
        change: dict[str, Any] = {
            "official_id": _as_uuid(m["person_id"]),
            "post_id": _as_uuid(m["post_id"]),
            "status": "effective",
            "announced_date": None,
            "citations": [],
            "note": None,
        }
        out_changes.append(
            {
                "id": _as_uuid(m["id"]),
                **_stamps(m),
                **change,
                "kind": "acting_appointment" if acting else "appointment",
                "effective_date": m["start_date"],
            }
        )
        end = m.get("end_date")
        if end is None:
            continue
        ended_at = _first_day_not_held(end)
        if acting and (m["person_id"], m["post_id"], ended_at) in starts:
            continue  # the appointment that follows closes it
        out_changes.append(
            {
                "id": str(uuid.uuid5(_NAMESPACE, f"{m['id']}/end")),
                **change,
                "kind": "dismissal",
                "effective_date": ended_at,
            }
        )

    # In the order they took effect, an end before a start on the same day: so that a
    # one-holder post is free again before its next holder's appointment is written.
    out_changes.sort(key=lambda c: (_first_day(c["effective_date"]), c["kind"] != "dismissal"))

    out_delegations: list[dict[str, Any]] = []
    for o in organizations:
        if o["id"] not in delegation_ids:
            continue
        members = [m for m in memberships if m.get("organization_id") == o["id"]]
        party = o.get("parent_id") or next(
            (m["on_behalf_of_id"] for m in members if m.get("on_behalf_of_id")), None
        )
        negotiation = next(
            (m["legislative_period_id"] for m in members if m.get("legislative_period_id")),
            None,
        )
        if party is None or negotiation is None:
            continue
        out_delegations.append(
            {
                "id": _as_uuid(o["id"]),
                **_stamps(o),
                "negotiation_id": _as_uuid(negotiation),
                "party_id": _as_uuid(party),
                "name": o.get("name"),
                "members": [
                    {
                        "official_id": _as_uuid(m["person_id"]),
                        "role": m["role"],
                        "start_date": m.get("start_date"),
                        "end_date": m.get("end_date"),
                        "from_round_id": None,
                        "to_round_id": None,
                        "note": None,
                    }
                    for m in members
                ],
                "citations": [],
                "note": None,
            }
        )

    events = doc.get("events", [])
    parties: dict[str, list[str]] = {}
    for d in out_delegations:
        listed = parties.setdefault(d["negotiation_id"], [])
        if d["party_id"] not in listed:
            listed.append(d["party_id"])
    out_negotiations = [
        {
            "id": _as_uuid(e["id"]),
            **_stamps(e),
            "title": e["name"],
            "status": e["status"] if e.get("status") in _NEGOTIATION_STATUSES else "active",
            "parties": parties.get(_as_uuid(e["id"]), []),
            "mediators": [],
            "start_date": e.get("start_date"),
            "end_date": e.get("end_date"),
            "citations": [],
            "note": None,
        }
        for e in events
        if e.get("classification") == "negotiation"
    ]
    out_negotiations = [n for n in out_negotiations if len(n["parties"]) >= 2]
    placed = {n["id"] for n in out_negotiations}
    ordinals: dict[str, int] = {}
    out_rounds: list[dict[str, Any]] = []
    for e in events:
        negotiation = _as_uuid(e["parent_id"]) if e.get("parent_id") else ""
        if e.get("classification") != "round" or negotiation not in placed:
            continue
        ordinals[negotiation] = ordinals.get(negotiation, 0) + 1
        out_rounds.append(
            {
                "id": _as_uuid(e["id"]),
                **_stamps(e),
                "negotiation_id": negotiation,
                "ordinal": ordinals[negotiation],
                "status": e["status"] if e.get("status") in _ROUND_STATUSES else "proposed",
                # Popolo's one `location` text comes back as the venue's place: exported again,
                # it reads the same.
                "venue": {"place": e["location"]} if e.get("location") else None,
                "start_date": e.get("start_date"),
                "end_date": e.get("end_date"),
                "mediators": [],
                "delegation_ids": [],
                "agenda": [],
                "outcome": e.get("description"),
                "citations": [],
                "note": None,
            }
        )

    return {
        "organizations": _parents_first(out_organizations),
        "officials": out_officials,
        "posts": out_posts,
        "role-changes": out_changes,
        "negotiations": out_negotiations,
        "rounds": out_rounds,
        "delegations": [d for d in out_delegations if d["negotiation_id"] in placed],
    }


def _overlap(memberships: Iterable[dict[str, Any]]) -> bool:
    """Whether two of these memberships (of one post) share a day, reading each partial date
    from the first day of its period as Accord does."""
    spans = sorted(
        (
            _first_day(m["start_date"]) if m.get("start_date") else date.min,
            _first_day(_first_day_not_held(m["end_date"])) if m.get("end_date") else date.max,
        )
        for m in memberships
    )
    return any(later[0] < earlier[1] for earlier, later in pairwise(spans))


def _first_day(partial: str) -> date:
    return date.fromisoformat(partial + "-01-01"[: 10 - len(partial)])


def _parents_first(organizations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Organizations in an order in which each comes after its parent (an import fills them in
    that order)."""
    by_id = {o["id"]: o for o in organizations}
    placed: set[str] = set()
    ordered: list[dict[str, Any]] = []

    def place(o: dict[str, Any], seen: frozenset[str]) -> None:
        if o["id"] in placed or o["id"] in seen:
            return
        parent = by_id.get(o["parent_id"]) if o["parent_id"] else None
        if parent is not None:
            place(parent, seen | {o["id"]})
        placed.add(o["id"])
        ordered.append(o)

    for o in organizations:
        place(o, frozenset())
    return ordered
