"""Storing prospects (their addresses and phone numbers) and choosing which of their
addresses a campaign uses."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlmodel import Session, col, select

from outbound.domain.prospects import AddressPublic, PhonePublic, ProspectCreate, ProspectPublic
from outbound.domain.statuses import AddressType
from outbound.store.chunks import chunked
from outbound.store.tables import Prospect, ProspectAddress, ProspectPhone, utc_now


def upsert_prospects(
    session: Session, workspace_id: int, incoming: Sequence[ProspectCreate]
) -> list[int]:
    """Store each prospect in the workspace, reusing the existing person when one of its
    addresses is known there (another workspace's prospects are other people's data);
    returns their ids in the order given (a person given twice has one id).

    Reuse keeps one person from being enrolled twice because they were imported
    twice (or listed twice in one file); the stored profile (phone numbers
    included) is not overwritten by the new upload. A person with no address
    (an SMS-only contact) is matched by phone number instead: the first of its
    numbers already stored in the workspace names them. New people, their addresses
    and their numbers are written with one multi-row INSERT each (a 10,000-row
    CSV took 6 s one row at a time).
    """
    wanted = list(dict.fromkeys(a.address for p in incoming for a in p.addresses))
    owner: dict[str, int] = {}  # address → a stored id (≥ 0) or -1 - a new person's index
    for part in chunked(wanted):
        owner.update(
            session.exec(
                select(ProspectAddress.address, ProspectAddress.prospect_id).where(
                    ProspectAddress.workspace_id == workspace_id,
                    col(ProspectAddress.address).in_(part),
                )
            ).all()
        )
    numbers = _number_owners(session, workspace_id, incoming)
    chosen: list[int] = []
    new_people: list[ProspectCreate] = []
    for person in incoming:
        if person.addresses:
            found = next((owner[a.address] for a in person.addresses if a.address in owner), None)
        else:
            found = next((numbers[p.number] for p in person.phones if p.number in numbers), None)
        if found is None:
            found = -1 - len(new_people)
            new_people.append(person)
            for address in person.addresses:
                owner.setdefault(address.address, found)
            for phone in person.phones:
                numbers.setdefault(phone.number, found)
        chosen.append(found)
    if not new_people:
        return chosen
    now = utc_now()
    new_ids = list(
        session.execute(
            insert(Prospect).returning(col(Prospect.id), sort_by_parameter_order=True),
            [
                {
                    "workspace_id": workspace_id,
                    "first_name": p.first_name,
                    "last_name": p.last_name,
                    "company": p.company,
                    "title": p.title,
                    "time_zone": p.time_zone,
                    "fields": dict(p.fields),
                    "created_at": now,
                }
                for p in new_people
            ],
        ).scalars()
    )
    addresses = []
    for index, person in enumerate(new_people):
        for position, address in enumerate(person.addresses, start=1):
            if owner.get(address.address) == -1 - index:  # its own, first time listed
                owner[address.address] = new_ids[index]
                addresses.append(
                    {
                        "workspace_id": workspace_id,
                        "prospect_id": new_ids[index],
                        "position": position,
                        "address": address.address,
                        "type": address.type.value,
                        "use_first": address.use_first,
                    }
                )
    if addresses:
        session.execute(insert(ProspectAddress), addresses)
    phones = [
        {
            "workspace_id": workspace_id,
            "prospect_id": new_ids[index],
            "position": position,
            "number": phone.number,
            "type": phone.type.value,
        }
        for index, person in enumerate(new_people)
        for position, phone in enumerate(person.phones, start=1)
    ]
    if phones:
        session.execute(insert(ProspectPhone), phones)
    return [found if found >= 0 else new_ids[-1 - found] for found in chosen]


def _number_owners(
    session: Session, workspace_id: int, incoming: Sequence[ProspectCreate]
) -> dict[str, int]:
    """Who in the workspace has each number of the incoming people without an address
    (the lowest id when several share one: the first stored)."""
    wanted = list(dict.fromkeys(p.number for i in incoming if not i.addresses for p in i.phones))
    owners: dict[str, int] = {}
    for part in chunked(wanted):
        rows = session.exec(
            select(ProspectPhone.number, ProspectPhone.prospect_id)
            .where(ProspectPhone.workspace_id == workspace_id, col(ProspectPhone.number).in_(part))
            .order_by(col(ProspectPhone.prospect_id).desc())
        ).all()
        owners.update(rows)  # descending, so the lowest id is written last and kept
    return owners


def addresses_of(session: Session, prospect_ids: Sequence[int]) -> dict[int, list[ProspectAddress]]:
    """Each prospect's addresses in relevance order."""
    by_prospect: dict[int, list[ProspectAddress]] = {pid: [] for pid in prospect_ids}
    rows = session.exec(
        select(ProspectAddress)
        .where(col(ProspectAddress.prospect_id).in_(list(prospect_ids)))
        .order_by(col(ProspectAddress.prospect_id), col(ProspectAddress.position))
    )
    for row in rows:
        by_prospect[row.prospect_id].append(row)
    return by_prospect


def phones_of(session: Session, prospect_ids: Sequence[int]) -> dict[int, list[ProspectPhone]]:
    """Each prospect's phone numbers in relevance order."""
    by_prospect: dict[int, list[ProspectPhone]] = {pid: [] for pid in prospect_ids}
    for part in chunked(list(prospect_ids)):
        rows = session.exec(
            select(ProspectPhone)
            .where(col(ProspectPhone.prospect_id).in_(part))
            .order_by(col(ProspectPhone.prospect_id), col(ProspectPhone.position))
        )
        for row in rows:
            by_prospect[row.prospect_id].append(row)
    return by_prospect


def phones_public(phones: Sequence[ProspectPhone]) -> list[PhonePublic]:
    """The API shape of stored numbers, in relevance order."""
    ordered = sorted(phones, key=lambda p: p.position)
    return [PhonePublic(number=p.number, type=p.type, position=p.position) for p in ordered]


def campaign_addresses(
    addresses: Sequence[ProspectAddress],
    preference: AddressType | None = None,
    only_preferred: bool = False,
) -> list[str]:
    """The addresses a campaign may use for a prospect, in the order to try them.

    "Use this address first" wins (it overrides the preference, as in SeekOut);
    then addresses of the preferred type in relevance order; then, unless the
    campaign says "don't send to other address types", the others in relevance
    order. A bounce moves on to the next one.
    """
    ordered = sorted(addresses, key=lambda a: a.position)
    first = [a for a in ordered if a.use_first]
    rest = [a for a in ordered if not a.use_first]
    if preference is not None:
        preferred = [a for a in rest if a.type == preference.value]
        others = [] if only_preferred else [a for a in rest if a.type != preference.value]
        rest = preferred + others
    return [a.address for a in first + rest]


def first_choice_address(addresses: Sequence[ProspectAddress]) -> str | None:
    """The address a campaign without a type preference tries first."""
    candidates = campaign_addresses(addresses)
    return candidates[0] if candidates else None


def prospect_public(
    prospect: Prospect,
    addresses: Sequence[ProspectAddress],
    phones: Sequence[ProspectPhone] = (),
) -> ProspectPublic:
    """The API shape of a stored prospect."""
    assert prospect.id is not None
    return ProspectPublic(
        id=prospect.id,
        first_name=prospect.first_name,
        last_name=prospect.last_name,
        company=prospect.company,
        title=prospect.title,
        time_zone=prospect.time_zone,
        fields=prospect.fields,
        created_at=prospect.created_at,
        addresses=[
            AddressPublic(
                address=a.address, type=a.type, use_first=a.use_first, position=a.position
            )
            for a in addresses
        ],
        phones=phones_public(phones),
    )
