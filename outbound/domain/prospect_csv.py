"""Read prospects from a CSV file, as exported by an ATS or CRM.

Columns: ``first_name``, ``last_name``, ``company``, ``title``, ``time_zone``;
address columns ``email``, ``personal_email``, ``work_email``, ``other_email``
(several addresses in one cell separated by ``;``; relevance follows column
order, then cell order); ``use_first`` naming one of the row's addresses; phone
columns ``phone`` and ``mobile_phone`` (mobile), ``work_phone``, ``other_phone``
(also ``;``-separated, same order rule; a bad number is named by its column); any
other column becomes a template field. Each row needs an address or a number (an
all-SMS campaign's file may have no address column at all).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from pydantic import ValidationError

from outbound.domain.prospects import MAX_PROSPECTS_PER_REQUEST, ProspectCreate
from outbound.domain.statuses import AddressType, PhoneType

_ADDRESS_COLUMNS = {
    "email": AddressType.OTHER,
    "personal_email": AddressType.PERSONAL,
    "work_email": AddressType.WORK,
    "other_email": AddressType.OTHER,
}
_PHONE_COLUMNS = {
    "phone": PhoneType.MOBILE,
    "mobile_phone": PhoneType.MOBILE,
    "work_phone": PhoneType.WORK,
    "other_phone": PhoneType.OTHER,
}
_STANDARD = ("first_name", "last_name", "company", "title", "time_zone")


@dataclass(frozen=True)
class CsvProblem:
    """Why one cell or row of the file was refused (rows count from 2, after the header;
    row 0 is the whole file)."""

    row: int
    field: str
    reason: str


def parse_prospects_csv(text: str) -> tuple[list[ProspectCreate], list[CsvProblem]]:
    """Every row as a prospect, or the problems found; callers store nothing if any."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if not any(name in _ADDRESS_COLUMNS or name in _PHONE_COLUMNS for name in header):
        columns = ", ".join([*_ADDRESS_COLUMNS, *_PHONE_COLUMNS])
        return [], [CsvProblem(1, "header", "needs an address or phone column: " + columns)]
    prospects: list[ProspectCreate] = []
    problems: list[CsvProblem] = []
    for row_number, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        if len(prospects) + len(problems) >= MAX_PROSPECTS_PER_REQUEST:
            reason = (
                f"a CSV file has at most {MAX_PROSPECTS_PER_REQUEST:,} prospect rows; "
                "split larger imports into several files"
            )
            return [], [CsvProblem(0, "file", reason)]
        data, phone_columns = _row_to_prospect(row)
        try:
            prospects.append(ProspectCreate.model_validate(data))
        except ValidationError as error:
            for item in error.errors():
                location = _cell_of(item["loc"], phone_columns)
                problems.append(
                    CsvProblem(row_number, location, item["msg"].removeprefix("Value error, "))
                )
    return prospects, problems


def _cell_of(location: tuple[int | str, ...], phone_columns: list[str]) -> str:
    """Where a validation error is: a phone number's column, else the field's path; a
    row with neither an address nor a number is named by its email and phone cells."""
    if not location:
        return "email/phone"
    if len(location) >= 2 and location[0] == "phones" and isinstance(location[1], int):
        return phone_columns[location[1]]
    return ".".join(str(p) for p in location)


def _row_to_prospect(row: dict[str, str]) -> tuple[dict[str, object], list[str]]:
    """The row as ProspectCreate's input, and the column each of its phone numbers came from."""
    first = row.get("use_first", "").lower()
    addresses = [
        {
            "address": address,
            "type": _ADDRESS_COLUMNS[column],
            "use_first": bool(first) and address.lower() == first,
        }
        for column, cell in row.items()
        if column in _ADDRESS_COLUMNS
        for address in (a.strip() for a in cell.split(";"))
        if address
    ]
    phones = [
        (column, {"number": number, "type": _PHONE_COLUMNS[column]})
        for column, cell in row.items()
        if column in _PHONE_COLUMNS
        for number in (n.strip() for n in cell.split(";"))
        if number
    ]
    fields = {
        name: value
        for name, value in row.items()
        if name not in _ADDRESS_COLUMNS
        and name not in _PHONE_COLUMNS
        and name not in _STANDARD
        and name != "use_first"
        and value
    }
    standard: dict[str, object] = {name: row[name] for name in _STANDARD if row.get(name)}
    data = {**standard, "addresses": addresses, "phones": [p for _, p in phones], "fields": fields}
    return data, [column for column, _ in phones]
