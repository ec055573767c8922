"""free_port never hands out one port twice: a suite picks all its ports before any
service binds them, and two gRPC servers on one port would share it (SO_REUSEPORT)
instead of failing, each answering part of the other's calls with UNIMPLEMENTED."""

from __future__ import annotations

import random
import socket

from services import launcher


def test_ports_are_distinct_even_when_the_random_pick_repeats() -> None:
    launcher.random.seed(7)
    state = random.getstate()
    first = launcher.free_port()
    random.setstate(state)  # the same random pick again
    assert launcher.free_port() != first


def test_a_port_handed_out_is_free_to_bind() -> None:
    ports = [launcher.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[-1]))
