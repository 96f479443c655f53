"""Storing prospects and choosing which of their addresses a campaign uses."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from outbound.domain.prospects import AddressPublic, ProspectCreate, ProspectPublic
from outbound.domain.statuses import AddressType
from outbound.store.tables import Prospect, ProspectAddress


def upsert_prospects(
    session: Session, workspace_id: int, incoming: Sequence[ProspectCreate]
) -> list[Prospect]:
    """Store each prospect in the workspace, reusing the existing person when one of its
    addresses is known there (another workspace's prospects are other people's data).

    Reuse keeps one person from being enrolled twice because they were imported
    twice; the stored profile is not overwritten by the new upload.
    """
    wanted = {a.address for p in incoming for a in p.addresses}
    known = {
        row.address: row.prospect_id
        for row in session.exec(
            select(ProspectAddress).where(
                ProspectAddress.workspace_id == workspace_id,
                col(ProspectAddress.address).in_(wanted),
            )
        )
    }
    stored: list[Prospect] = []
    for person in incoming:
        existing_id = next((known[a.address] for a in person.addresses if a.address in known), None)
        if existing_id is not None:
            stored.append(session.get_one(Prospect, existing_id))
            continue
        prospect = Prospect(
            workspace_id=workspace_id,
            first_name=person.first_name,
            last_name=person.last_name,
            company=person.company,
            title=person.title,
            time_zone=person.time_zone,
            fields=dict(person.fields),
        )
        session.add(prospect)
        session.flush()
        assert prospect.id is not None
        for position, address in enumerate(person.addresses, start=1):
            if address.address in known:
                continue
            session.add(
                ProspectAddress(
                    workspace_id=workspace_id,
                    prospect_id=prospect.id,
                    position=position,
                    address=address.address,
                    type=address.type.value,
                    use_first=address.use_first,
                )
            )
            known[address.address] = prospect.id
        stored.append(prospect)
    session.flush()
    return stored


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


def prospect_public(prospect: Prospect, addresses: Sequence[ProspectAddress]) -> ProspectPublic:
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
    )
