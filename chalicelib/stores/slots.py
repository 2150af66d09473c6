"""Each store's running jobs, counted in one DynamoDB item so that caps hold across containers.

The item (id ``store#<store id>`` in the jobs table; no job attributes, so no index holds it):

- ``running``, and ``prun#<plugin>`` per plugin: slots held now;
- ``h#<holder>``: one per batch group that holds slots, ``{n, until, plugin, since}``. Its batch
  renews ``until`` a lease ahead while it runs; one whose ``until`` passed (its worker died) is
  removed by the next take that finds the store full, which gets its slots back;
- ``waiting``: about how many of the store's jobs are deferred (the delays' estimate only);
- ``mean_run_s``: how long the store's batches run (an exponentially weighted mean);
- ``max_running``, ``max_running_per_plugin``: an admin's caps, when set; ``limits_version``;
- ``tenant_shard``: its key in the stores index (shards.py), set by every write here;
- ``paused``, and ``paused#<plugin>`` per plugin: set while an admin has paused the store, or
  that plugin in it. A paused store (plugin) has a cap of 0: its jobs wait like any over a cap.

A take is one conditional UpdateItem when the caps leave room, and the condition is the caps
and the pause: two workers racing for the last slot cannot both get it, and a worker that has
not seen a pause yet cannot start a job after it. A full store answers with the item
(ALL_OLD), and a second write takes what fits, removes lapsed holders and counts the rest as
waiting.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import is_condition_failure, old_item
from chalicelib.errors import StaleWriteError
from chalicelib.stores.policy import FIRST_MEAN_RUN_S, Caps, fits, updated_mean
from chalicelib.stores.shards import BY_TENANT_SHARD_INDEX, TENANT_SHARD_ATTRIBUTE, shard_key, tenant_shard

SLOTS_ID_PREFIX = "store#"
HOLDER_PREFIX = "h#"
PLUGIN_PREFIX = "prun#"
PAUSED = "paused"
PAUSED_PLUGIN_PREFIX = "paused#"
NO_PLUGIN = "-"
# A holder lasts this long unless its batch renews it (a job's lease: a dead worker's slots come
# back when its jobs would).
DEFAULT_HOLD_S = 60
# Takes that lose a race read the item again and try once more, this many times in all.
TAKE_ATTEMPTS = 3
# How long what a container saw of a store's item sizes its next take.
BELIEF_S = 5.0
# Keys one BatchGetItem may name, and rounds of unprocessed keys read again before giving up.
BATCH_GET_KEYS = 100
BATCH_GET_ROUNDS = 3


def slots_item_id(store_id: str) -> str:
    return f"{SLOTS_ID_PREFIX}{store_id}"


@dataclass(frozen=True)
class StoreLimits:
    """An admin's caps for one store (None: the default), and the version they were read at."""

    max_running: int | None = None
    max_running_per_plugin: int | None = None
    version: int = 0


@dataclass(frozen=True)
class Pause:
    """What of a store an admin has paused: all of it, or some of its plugins."""

    store: bool = False
    plugins: frozenset[str] = frozenset()

    def holds(self, plugin_id: str | None) -> bool:
        """Whether jobs of ``plugin_id`` (None: of no plugin) may not start."""
        return self.store or (plugin_id is not None and plugin_id in self.plugins)


def pause_of(item: dict[str, Any] | None) -> Pause:
    item = item or {}
    plugins = frozenset(
        name[len(PAUSED_PLUGIN_PREFIX) :]
        for name, value in item.items()
        if name.startswith(PAUSED_PLUGIN_PREFIX) and value
    )
    return Pause(store=bool(item.get(PAUSED)), plugins=plugins)


@dataclass(frozen=True)
class Taken:
    """What a take got: ``n`` slots under ``holder``, and what the deferrals of the rest need."""

    n: int
    holder: str
    waiting: int
    mean_run_s: float
    caps: Caps
    # Seconds until the store's oldest running batch should end, by the mean (0: any moment).
    first_free_s: float = 0.0
    # The store, or this plugin in it, is paused: no slot frees until an admin resumes it.
    paused: bool = False


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


class StoreSlots:
    def __init__(self, table: Any, *, default_caps: Caps, hold_s: float = DEFAULT_HOLD_S) -> None:
        self._table = table
        self.default_caps = default_caps
        self.hold_s = hold_s
        # The item as this container last saw it, per store: a take sized by it is one write
        # when it is right, and its condition refuses it when it is not.
        self._beliefs: dict[str, tuple[dict[str, Any], float]] = {}
        self._lock = threading.Lock()

    def _belief(self, store_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._beliefs.get(store_id)
        if found is None or time.monotonic() - found[1] > BELIEF_S:
            return None
        return dict(found[0])

    def _believe(self, store_id: str, item: dict[str, Any]) -> None:
        with self._lock:
            self._beliefs[store_id] = (item, time.monotonic())

    def caps_of(self, item: dict[str, Any] | None) -> Caps:
        item = item or {}
        return Caps(
            store=_int(item.get("max_running"), self.default_caps.store),
            plugin=_int(item.get("max_running_per_plugin"), self.default_caps.plugin),
        )

    def caps_for(self, item: dict[str, Any] | None, plugin: str) -> Caps:
        """What ``plugin``'s jobs (NO_PLUGIN: jobs of none) answer to now: a pause is a cap of 0."""
        caps = self.caps_of(item)
        if plugin == NO_PLUGIN:  # jobs of no plugin answer to the store's cap alone
            caps = Caps(store=caps.store, plugin=caps.store)
        pause = pause_of(item)
        if pause.store:
            return Caps(store=0, plugin=0)
        if plugin in pause.plugins:
            return Caps(store=caps.store, plugin=0)
        return caps

    # --- the worker's side ------------------------------------------------------------

    def take(self, store_id: str, plugin_id: str | None, wanted: int, *, returning: int, now_s: float) -> Taken:
        """Up to ``wanted`` slots for one batch's jobs of this store and plugin; ``returning`` of
        them were deferred before (they leave the waiting count when they run)."""
        plugin = plugin_id or NO_PLUGIN
        holder = uuid.uuid4().hex
        item = self._belief(store_id)
        known = item is not None  # whether ``item`` is what is stored (as last seen), not a guess
        counted = False  # whether this take's deferrals are in ``waiting`` already
        for _ in range(TAKE_ATTEMPTS + 1):
            caps = self.caps_for(item, plugin)
            lapsed = self._lapsed(item, now_s) if known else {}
            running = _int((item or {}).get("running")) - sum(n for n, _ in lapsed.values())
            plugin_running = _int((item or {}).get(PLUGIN_PREFIX + plugin)) - sum(
                n for n, p in lapsed.values() if p == plugin
            )
            n = fits(wanted, running=running, plugin_running=plugin_running, caps=caps) if known else wanted
            # The waiting count loses the returning jobs and gains those deferred now (some the same).
            wait_delta = -n if counted else (wanted - n) - returning
            if known and wait_delta == 0 and not lapsed and pause_of(item).holds(plugin_id):
                # Paused, and these jobs are counted already: a write would change nothing. A
                # paused store's jobs look again every recheck; most looks then cost no write.
                return self._taken(item or {}, 0, holder, caps, now_s, newly_waiting=0, plugin_id=plugin_id)
            try:
                stored = self._write_take(
                    store_id, plugin, holder, n, wait_delta, now_s, caps, item if known else None, lapsed
                )
            except _RefusedError as refused:
                item, known = refused.item, True
                self._believe(store_id, item)
                continue
            self._believe(store_id, stored)
            if n == 0 and not counted and self._room(stored, plugin, now_s) > 0:
                # What this container believed was out of date: slots freed meanwhile. Take them.
                item, known, counted = stored, True, True
                continue
            return self._taken(stored, n, holder, caps, now_s, newly_waiting=wanted - n, plugin_id=plugin_id)
        # Lost every race: none taken; the estimate comes from the last look at the item.
        caps = self.caps_for(item, plugin)
        return self._taken(item or {}, 0, holder, caps, now_s, newly_waiting=0, plugin_id=plugin_id)

    @staticmethod
    def _taken(
        item: dict[str, Any],
        n: int,
        holder: str,
        caps: Caps,
        now_s: float,
        *,
        newly_waiting: int,
        plugin_id: str | None,
    ) -> Taken:
        mean = float(item["mean_run_s"]) if item.get("mean_run_s") is not None else FIRST_MEAN_RUN_S
        starts = [
            float(value.get("since", value["until"]))
            for name, value in item.items()
            if name.startswith(HOLDER_PREFIX) and isinstance(value, dict) and name != HOLDER_PREFIX + holder
        ]
        return Taken(
            n=n,
            holder=holder,
            waiting=max(0, _int(item.get("waiting")) - newly_waiting),
            mean_run_s=mean,
            caps=caps,
            first_free_s=max(0.0, min(starts) + mean - now_s) if starts else 0.0,
            paused=n == 0 and pause_of(item).holds(plugin_id),
        )

    def _room(self, item: dict[str, Any], plugin: str, now_s: float) -> int:
        """Slots free in ``item`` for ``plugin``'s jobs, lapsed holders counted as free."""
        caps = self.caps_for(item, plugin)
        lapsed = self._lapsed(item, now_s)
        running = _int(item.get("running")) - sum(n for n, _ in lapsed.values())
        plugin_running = _int(item.get(PLUGIN_PREFIX + plugin)) - sum(n for n, p in lapsed.values() if p == plugin)
        return fits(caps.store, running=running, plugin_running=plugin_running, caps=caps)

    @staticmethod
    def _lapsed(item: dict[str, Any] | None, now_s: float) -> dict[str, tuple[int, str]]:
        """Holders whose time is up: name -> (slots, plugin)."""
        found = {}
        for name, value in (item or {}).items():
            if name.startswith(HOLDER_PREFIX) and isinstance(value, dict) and float(value.get("until", 0)) < int(now_s):
                found[name] = (_int(value.get("n")), str(value.get("plugin", NO_PLUGIN)))
        return found

    def _write_take(
        self,
        store_id: str,
        plugin: str,
        holder: str,
        n: int,
        wait_delta: int,
        now_s: float,
        caps: Caps,
        seen: dict[str, Any] | None,
        lapsed: dict[str, tuple[int, str]],
    ) -> dict[str, Any]:
        # Placeholders everywhere: plugin ids may hold dots, which a bare name would read as a path.
        names: dict[str, str] = {"#run": "running", "#wait": "waiting", "#p": PLUGIN_PREFIX + plugin}
        names["#ts"] = TENANT_SHARD_ATTRIBUTE
        values: dict[str, Any] = {":wait": wait_delta, ":ts": tenant_shard(store_id)}
        adds = ["#wait :wait"]
        sets: list[str] = ["#ts = :ts"]
        removes: list[str] = []
        freed = sum(count for count, _ in lapsed.values())
        freed_plugin: dict[str, int] = {}
        for count, owner in lapsed.values():
            freed_plugin[owner] = freed_plugin.get(owner, 0) + count
        if n or freed:
            values[":run"] = n - freed
            adds.append("#run :run")
        plugin_delta = {plugin: n} if n else {}
        for owner, count in freed_plugin.items():
            plugin_delta[owner] = plugin_delta.get(owner, 0) - count
        for i, (owner, delta) in enumerate(plugin_delta.items()):
            names[f"#q{i}"] = PLUGIN_PREFIX + owner
            values[f":q{i}"] = delta
            adds.append(f"#q{i} :q{i}")
        if n:
            names["#h"] = HOLDER_PREFIX + holder
            values[":h"] = {"n": n, "until": int(now_s + self.hold_s) + 1, "plugin": plugin, "since": int(now_s)}
            sets.append("#h = :h")
        # The caps the take was sized by must still be the item's, and the room still there.
        conditions = self._limits_unchanged(seen, names, values)
        if n:
            values[":room"] = caps.store - n + freed
            values[":proom"] = caps.plugin - n + freed_plugin.get(plugin, 0)
            conditions.append("(attribute_not_exists(#run) OR #run <= :room)")
            conditions.append("(attribute_not_exists(#p) OR #p <= :proom)")
            # Sized by a view from before a pause (or by none), a take must not start jobs after it.
            names["#paused"] = PAUSED
            conditions.append("attribute_not_exists(#paused)")
            if plugin != NO_PLUGIN:
                names["#pp"] = PAUSED_PLUGIN_PREFIX + plugin
                conditions.append("attribute_not_exists(#pp)")
        for i, (name, _) in enumerate(lapsed.items()):
            names[f"#x{i}"] = name
            names["#until"] = "until"
            values[":now"] = int(now_s)
            removes.append(f"#x{i}")
            # Still there and still lapsed: a holder another take freed is not freed twice, and
            # one its batch renewed meanwhile is not freed at all.
            conditions.append(f"#x{i}.#until < :now")
        used = " ".join((*conditions, *adds))
        for placeholder in ("#p", "#run"):
            if placeholder not in used:
                del names[placeholder]
        expression = "ADD " + ", ".join(adds)
        if sets:
            expression += " SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            answer = self._table.update_item(
                Key={"id": slots_item_id(store_id)},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ConditionExpression=" AND ".join(conditions),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise _RefusedError(old_item(exc) or {}) from None
            raise
        return answer.get("Attributes", {})

    @staticmethod
    def _limits_unchanged(seen: dict[str, Any] | None, names: dict[str, str], values: dict[str, Any]) -> list[str]:
        conditions = []
        for i, name in enumerate(("max_running", "max_running_per_plugin")):
            names[f"#l{i}"] = name
            value = (seen or {}).get(name)
            if value is None:
                conditions.append(f"attribute_not_exists(#l{i})")
            else:
                values[f":l{i}"] = value
                conditions.append(f"#l{i} = :l{i}")
        return conditions

    def renew(self, store_id: str, taken: Taken, *, now_s: float) -> None:
        """Keep a running batch's holder from lapsing (conditional: a holder already freed stays freed)."""
        if taken.n == 0:
            return
        try:
            self._table.update_item(
                Key={"id": slots_item_id(store_id)},
                UpdateExpression="SET #h.#u = :u",
                ExpressionAttributeNames={"#h": HOLDER_PREFIX + taken.holder, "#u": "until"},
                ExpressionAttributeValues={":u": int(now_s + self.hold_s) + 1},
                ConditionExpression=Attr(HOLDER_PREFIX + taken.holder).exists(),
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def release(self, store_id: str, plugin_id: str | None, taken: Taken, *, run_s: float) -> None:
        """Give back a batch group's slots (conditional on its holder: never twice)."""
        if taken.n == 0:
            return
        plugin = plugin_id or NO_PLUGIN
        try:
            self._table.update_item(
                Key={"id": slots_item_id(store_id)},
                UpdateExpression="ADD #run :minus, #p :minus SET #mean = :mean, #ts = :ts REMOVE #h",
                ExpressionAttributeNames={
                    "#run": "running",
                    "#p": PLUGIN_PREFIX + plugin,
                    "#h": HOLDER_PREFIX + taken.holder,
                    "#mean": "mean_run_s",
                    "#ts": TENANT_SHARD_ATTRIBUTE,
                },
                ExpressionAttributeValues={
                    ":minus": -taken.n,
                    ":mean": Decimal(str(round(updated_mean(taken.mean_run_s, run_s), 3))),
                    ":ts": tenant_shard(store_id),
                },
                ConditionExpression=Attr(HOLDER_PREFIX + taken.holder).exists(),
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            # It lapsed and another take freed its slots already.
            return
        with self._lock:
            seen = self._beliefs.get(store_id)
            if seen is not None:
                item = dict(seen[0])
                item.pop(HOLDER_PREFIX + taken.holder, None)
                for name in ("running", PLUGIN_PREFIX + plugin):
                    item[name] = _int(item.get(name)) - taken.n
                self._beliefs[store_id] = (item, seen[1])

    # --- the admin's side -------------------------------------------------------------

    def state(self, store_id: str) -> dict[str, Any]:
        """The store's item as it is (empty: it never ran a job nor had limits set)."""
        return self._table.get_item(Key={"id": slots_item_id(store_id)}, ConsistentRead=True).get("Item") or {}

    def limits(self, store_id: str) -> StoreLimits:
        item = self.state(store_id)
        return StoreLimits(
            max_running=None if item.get("max_running") is None else int(item["max_running"]),
            max_running_per_plugin=(
                None if item.get("max_running_per_plugin") is None else int(item["max_running_per_plugin"])
            ),
            version=_int(item.get("limits_version")),
        )

    def set_limits(self, store_id: str, limits: StoreLimits) -> StoreLimits:
        """Write ``limits`` if the stored ones are still at ``limits.version`` (StaleWriteError if not)."""
        sets, removes = ["#v = :next", "#ts = :ts"], []
        values: dict[str, Any] = {":next": limits.version + 1, ":ts": tenant_shard(store_id)}
        names = {"#v": "limits_version", "#ts": TENANT_SHARD_ATTRIBUTE}
        for name, value in (
            ("max_running", limits.max_running),
            ("max_running_per_plugin", limits.max_running_per_plugin),
        ):
            names[f"#{name}"] = name
            if value is None:
                removes.append(f"#{name}")
            else:
                values[f":{name}"] = value
                sets.append(f"#{name} = :{name}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        expected = (
            Attr("limits_version").not_exists() if limits.version == 0 else Attr("limits_version").eq(limits.version)
        )
        try:
            self._table.update_item(
                Key={"id": slots_item_id(store_id)},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ConditionExpression=expected,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise StaleWriteError(f"Store {store_id}'s limits changed meanwhile.") from exc
            raise
        return StoreLimits(limits.max_running, limits.max_running_per_plugin, limits.version + 1)

    def list_shard(self, shard: int, *, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` stores' listed load in one shard of the stores index, by store id, after
        store ``after``; and the store to resume after (None: the shard is exhausted)."""
        key = shard_key(shard)
        request: dict[str, Any] = {
            "IndexName": BY_TENANT_SHARD_INDEX,
            "KeyConditionExpression": Key(TENANT_SHARD_ATTRIBUTE).eq(key),
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {"id": slots_item_id(after), TENANT_SHARD_ATTRIBUTE: key}
        page = self._table.query(**request)
        last = page.get("LastEvaluatedKey")
        return page.get("Items", []), None if not last else str(last["id"])[len(SLOTS_ID_PREFIX) :]

    def set_paused(self, store_id: str, plugin_id: str | None, paused: bool) -> dict[str, Any]:
        """Pause (or resume) the store, or ``plugin_id`` in it; answers the item as it now is.

        One attribute, set or removed, so one plain UpdateItem: pausing twice is pausing, and
        there is nothing a concurrent change of the caps could lose. The version moves on, so a
        limits change read before it is re-read (put_limits retries).
        """
        flag = PAUSED if plugin_id is None else PAUSED_PLUGIN_PREFIX + plugin_id
        expression = "ADD #v :one SET #ts = :ts" + (", #flag = :true" if paused else " REMOVE #flag")
        values: dict[str, Any] = {":one": 1, ":ts": tenant_shard(store_id)}
        if paused:
            values[":true"] = True
        answer = self._table.update_item(
            Key={"id": slots_item_id(store_id)},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#v": "limits_version", "#flag": flag, "#ts": TENANT_SHARD_ATTRIBUTE},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        with self._lock:
            self._beliefs.pop(store_id, None)
        return answer.get("Attributes", {})

    def pauses(self, store_ids: Iterable[str]) -> dict[str, Pause]:
        """What is paused of each store (eventually consistent reads, 100 to a BatchGetItem)."""
        wanted = sorted(set(store_ids))
        found = {store_id: Pause() for store_id in wanted}
        client = self._table.meta.client  # the resource's client: plain Python values in and out
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            keys: list[dict[str, Any]] = [
                {"id": slots_item_id(store_id)} for store_id in wanted[start : start + BATCH_GET_KEYS]
            ]
            for _ in range(BATCH_GET_ROUNDS):
                answer = client.batch_get_item(RequestItems={self._table.name: {"Keys": keys}})
                for item in answer.get("Responses", {}).get(self._table.name, []):
                    found[str(item["id"])[len(SLOTS_ID_PREFIX) :]] = pause_of(item)
                keys = answer.get("UnprocessedKeys", {}).get(self._table.name, {}).get("Keys", [])
                if not keys:
                    break
            else:
                raise RuntimeError(f"{len(keys)} stores' pauses unread after {BATCH_GET_ROUNDS} rounds")
        return found


class _RefusedError(Exception):
    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
