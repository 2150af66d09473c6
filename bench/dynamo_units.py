"""What DynamoDB bills for a write: item sizes by its rules, write units for the table and each index.

Pure: items are in DynamoDB's wire shape (``{"id": {"S": "..."}, "n": {"N": "12"}}``), as a
low-level client's GetItem returns them. No AWS call here; ``bench/write_units.py`` reads the
items before and after each write and hands them to these functions.

Sizes follow "DynamoDB item sizes and formats"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
an item is the sum of its attribute names' UTF-8 bytes and its values' sizes; a string is its
UTF-8 bytes, a number about one byte per two significant digits plus one, a binary its raw
bytes, a null or Boolean one byte, a list or map 3 bytes plus one per element plus its
elements (a map's element counts its name too).

Write units (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html):
one per KB (1,024 bytes) of the larger of the item before and after the write, at least one;
twice that inside a transaction. Global secondary indexes
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes): an
item entering an index is one write of its projection, one leaving it one write, one whose
index key changes two (a delete and a put), one whose projected attributes change one, and
nothing when the index does not see the change.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KB = 1024
LIST_OR_MAP_OVERHEAD = 3
ELEMENT_OVERHEAD = 1

Item = Mapping[str, Mapping[str, Any]]


def number_size(text: str) -> int:
    """Bytes of a number: one per two significant digits, plus one (leading and trailing zeros trimmed)."""
    digits = text.strip().lstrip("+-").lower().split("e")[0].replace(".", "")
    significant = digits.strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return len(base64.b64decode(value))  # the wire carries base64; DynamoDB counts raw bytes


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one typed attribute value (``{"S": ...}``, ``{"M": {...}}`` ...), without its name."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return _binary_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(number_size(n) for n in data)
    if kind == "BS":
        return sum(_binary_size(b) for b in data)
    if kind == "L":
        return LIST_OR_MAP_OVERHEAD + sum(ELEMENT_OVERHEAD + value_size(v) for v in data)
    if kind == "M":
        return LIST_OR_MAP_OVERHEAD + sum(ELEMENT_OVERHEAD + len(k.encode()) + value_size(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Item | None) -> int:
    """Bytes DynamoDB counts for an item (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def units(size: int) -> int:
    """Write units of one write of an item of ``size`` bytes: per started KB, at least one."""
    return max(1, math.ceil(size / KB))


@dataclass(frozen=True)
class Index:
    """A global secondary index, from a CreateTable request."""

    name: str
    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    include: tuple[str, ...] = ()

    def holds(self, item: Item | None) -> bool:
        return bool(item) and all(key in item for key in self.keys)  # type: ignore[operator]

    def entry(self, item: Item, table_keys: tuple[str, ...]) -> dict[str, Any]:
        """What the index stores for ``item``: its projection, keys always included."""
        if self.projection == "ALL":
            return dict(item)
        kept = set(table_keys) | set(self.keys) | set(self.include if self.projection == "INCLUDE" else ())
        return {name: value for name, value in item.items() if name in kept}


@dataclass(frozen=True)
class TableShape:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> TableShape:
        indexes = tuple(
            Index(
                name=index["IndexName"],
                keys=tuple(k["AttributeName"] for k in index["KeySchema"]),
                projection=index["Projection"]["ProjectionType"],
                include=tuple(index["Projection"].get("NonKeyAttributes", ())),
            )
            for index in definition.get("GlobalSecondaryIndexes", ())
        )
        return cls(definition["TableName"], tuple(k["AttributeName"] for k in definition["KeySchema"]), indexes)

    def key_of(self, item: Item) -> dict[str, Any]:
        return {name: dict(item[name]) for name in self.keys}


@dataclass
class WriteCost:
    """Write units of one or more item writes: the table's, and each index's by name."""

    table: int = 0
    indexes: dict[str, int] = field(default_factory=dict)

    @property
    def index_total(self) -> int:
        return sum(self.indexes.values())

    @property
    def total(self) -> int:
        return self.table + self.index_total

    def add(self, other: WriteCost) -> None:
        self.table += other.table
        for name, n in other.indexes.items():
            self.indexes[name] = self.indexes.get(name, 0) + n


def index_write_units(index: Index, table_keys: tuple[str, ...], before: Item | None, after: Item | None) -> int:
    """Units one item write costs ``index``: put, delete, delete + put, update, or nothing."""
    was, now = index.holds(before), index.holds(after)
    old = index.entry(before, table_keys) if was and before else None
    new = index.entry(after, table_keys) if now and after else None
    if old is None and new is None:
        return 0
    if old is None:
        return units(item_size(new))
    if new is None:
        return units(item_size(old))
    if any(old[key] != new[key] for key in index.keys):
        return units(item_size(old)) + units(item_size(new))
    if old != new:
        return units(max(item_size(old), item_size(new)))
    return 0


def write_cost(
    shape: TableShape, before: Item | None, after: Item | None, *, transactional: bool = False, refused: bool = False
) -> WriteCost:
    """What one item write costs: the table's units (the larger size, at least 1) and each index's.

    A refused conditional write still costs the table the item's units, and no index anything.
    """
    factor = 2 if transactional else 1
    if refused:
        return WriteCost(table=factor * units(item_size(before)))
    cost = WriteCost(table=factor * units(max(item_size(before), item_size(after))))
    for index in shape.indexes:
        spent = index_write_units(index, shape.keys, before, after)
        if spent:
            cost.indexes[index.name] = spent
    return cost
