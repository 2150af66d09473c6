"""The webhook sender itself: a backslash URL and a peer other than the checked address send nothing."""

from __future__ import annotations

import ipaddress

import pytest
import requests

from chalicelib.jobs.builtin.pinned_http import Peer, PinMismatchError, PinnedAdapter, send_pinned
from chalicelib.jobs.builtin.ssrf import BlockedAddressError
from tests.conftest import Receiver


@pytest.fixture(autouse=True)
def _no_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKWORK_WEBHOOK_ALLOWLIST", raising=False)


def test_the_sender_refuses_a_backslash_url_even_with_a_public_address(receiver: str) -> None:
    url = f"http://{receiver}\\@8.8.8.8/../any/path"
    with pytest.raises(BlockedAddressError, match="may not contain"):
        send_pinned("POST", url, [ipaddress.ip_address("8.8.8.8")], headers={}, data="x", timeout=5)
    assert Receiver.received == []


def test_a_connection_whose_peer_is_not_the_checked_address_sends_nothing(receiver: str) -> None:
    port = int(receiver.split(":")[1])
    checked = Peer(ipaddress.ip_address("127.0.0.1"), port + 1 if port < 65535 else port - 1)
    with requests.Session() as session:
        session.mount("http://", PinnedAdapter("127.0.0.1", checked))
        with pytest.raises(PinMismatchError, match=f"connected to 127.0.0.1 port {port}"):
            session.post(f"http://{receiver}/hook", data="secret", timeout=5)
    assert Receiver.received == []
