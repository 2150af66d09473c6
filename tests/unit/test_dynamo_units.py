"""Item sizes and write units by DynamoDB's published rules (bench/dynamo_units.py). Pure."""

from __future__ import annotations

import base64

from bench.dynamo_units import Index, TableShape, item_size, number_size, units, value_size, write_cost

# The rules of "DynamoDB item sizes and formats":
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html


def test_a_string_costs_its_name_and_value_in_utf8_bytes() -> None:
    # Two one-letter strings under 11- and 10-byte names: 12 + 11 = 23 bytes.
    assert item_size({"shirt-color": {"S": "R"}, "shirt-size": {"S": "M"}}) == 23
    assert item_size({"é": {"S": "日本"}}) == 2 + 6


def test_a_number_costs_a_byte_per_two_significant_digits_plus_one() -> None:
    assert number_size("1") == 2
    assert number_size("12") == 2
    assert number_size("123") == 3
    assert number_size("1000") == 2  # trailing zeros trimmed
    assert number_size("0.0012") == 2  # leading zeros trimmed
    assert number_size("-12345.678") == 1 + 4  # 8 digits
    assert item_size({"n": {"N": "1234"}}) == 1 + 3


def test_a_binary_costs_its_raw_bytes_not_its_base64() -> None:
    raw = b"\x00\x01\x02\x03\x04"
    assert value_size({"B": base64.b64encode(raw).decode()}) == 5
    assert value_size({"B": raw}) == 5


def test_a_null_or_boolean_costs_one_byte() -> None:
    assert item_size({"ok": {"BOOL": True}, "no": {"NULL": True}}) == 2 + 1 + 2 + 1


def test_an_empty_list_or_map_costs_three_bytes() -> None:
    assert item_size({"l": {"L": []}}) == 1 + 3
    assert item_size({"m": {"M": {}}}) == 1 + 3


def test_each_list_or_map_element_costs_one_byte_more() -> None:
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1


def test_sets_cost_the_sum_of_their_members() -> None:
    assert value_size({"SS": ["a", "bc"]}) == 3
    assert value_size({"NS": ["1", "22"]}) == 4


def test_a_write_unit_covers_up_to_one_kb_and_at_least_one() -> None:
    assert units(0) == 1
    assert units(1024) == 1
    assert units(1025) == 2
    assert units(200 * 1024) == 200


SHAPE = TableShape(
    "jobs",
    ("id",),
    (
        Index("by_status", ("status", "created_at"), "ALL"),
        Index("by_store_status", ("store_id", "status"), "KEYS_ONLY"),
    ),
)


def job(status: str, **extra: str) -> dict[str, dict[str, str]]:
    item = {"id": {"S": "j1"}, "store_id": {"S": "s"}, "created_at": {"S": "t"}, "status": {"S": status}}
    item.update({name: {"S": value} for name, value in extra.items()})
    return item


def test_a_put_costs_the_table_and_each_index_it_enters() -> None:
    cost = write_cost(SHAPE, None, job("pending"))
    assert cost.table == 1 and cost.indexes == {"by_status": 1, "by_store_status": 1}
    assert cost.total == 3


def test_changing_an_index_key_costs_that_index_a_delete_and_a_put() -> None:
    cost = write_cost(SHAPE, job("pending"), job("running"))
    assert cost.indexes == {"by_status": 2, "by_store_status": 2}


def test_a_keys_only_index_ignores_a_change_of_other_attributes() -> None:
    cost = write_cost(SHAPE, job("running"), job("running", progress="50"))
    assert cost.indexes == {"by_status": 1}


def test_the_larger_of_before_and_after_sets_the_units() -> None:
    big = job("running", payload="x" * 5000)
    cost = write_cost(SHAPE, big, job("completed"))
    assert cost.table == 5
    assert cost.indexes["by_status"] == 5 + 1  # the big entry leaves, the small one enters


def test_a_transaction_doubles_the_table_units_and_a_refusal_costs_them() -> None:
    assert write_cost(SHAPE, job("a"), job("a", x="y"), transactional=True).table == 2
    refused = write_cost(SHAPE, job("a", payload="x" * 3000), None, refused=True)
    assert refused.table == 3 and refused.indexes == {}


def test_an_item_outside_a_sparse_index_costs_it_nothing() -> None:
    shape = TableShape("crons", ("id",), (Index("due", ("due_shard", "next_run_at"), "ALL"),))
    paused = {"id": {"S": "c"}, "next_run_at": {"S": "t"}}
    assert write_cost(shape, paused, {**paused, "name": {"S": "n"}}).indexes == {}
    active = {**paused, "due_shard": {"S": "active"}}
    assert write_cost(shape, paused, active).indexes == {"due": 1}
    assert write_cost(shape, active, paused).indexes == {"due": 1}


def test_a_table_shape_reads_a_create_table_request() -> None:
    from chalicelib.jobs.store import jobs_table_definition

    shape = TableShape.from_definition(jobs_table_definition("t"))
    assert shape.keys == ("id",)
    projections = {index.name: index.projection for index in shape.indexes}
    assert projections == {
        "by_store": "ALL",
        "by_status_shard": "ALL",
        "by_cron": "ALL",
        "by_batch": "ALL",
        "by_batch_store": "INCLUDE",
        "by_store_status": "KEYS_ONLY",
        "by_tenant_shard": "INCLUDE",
    }


def test_counting_a_childs_end_writes_nothing_to_the_batch_listing_index() -> None:
    from chalicelib.jobs.store import jobs_table_definition

    shape = TableShape.from_definition(jobs_table_definition("t"))
    batch = {
        "id": {"S": "batch#b1"},
        "batch_store": {"S": "store-a"},
        "created_at": {"S": "2026-11-30T10:00:00+00:00"},
        "state": {"S": "open"},
        "completed": {"N": "3"},
        "updated_at": {"S": "2026-11-30T10:01:00+00:00"},
        "batch_id": {"S": "unfinished#03"},
    }
    counted = {**batch, "completed": {"N": "4"}, "updated_at": {"S": "2026-11-30T10:02:00+00:00"}}
    assert write_cost(shape, batch, counted).indexes.get("by_batch_store", 0) == 0
    final = {**counted, "state": {"S": "succeeded"}}
    assert write_cost(shape, counted, final).indexes["by_batch_store"] == 1
