import threading

import pytest

from vcam.capture.mailbox import Mailbox


def test_newest_wins_and_replaced_items_count_as_dropped():
    box: Mailbox[int] = Mailbox()
    for i in range(3):
        assert box.put(i)
    assert box.get(0.1) == 2
    assert box.dropped == 2
    assert box.posted == 3


def test_get_waits_for_an_item_newer_than_the_last_taken():
    box: Mailbox[int] = Mailbox()
    box.put(1)
    assert box.get(0.1) == 1
    with pytest.raises(TimeoutError):
        box.get(0.05)
    box.put(2)
    assert box.get(0.1) == 2
    assert box.dropped == 0


def test_close_wakes_a_waiting_get_and_hands_out_the_untaken_item_first():
    box: Mailbox[int] = Mailbox()
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(box.get(5.0)))
    waiter.start()
    threading.Event().wait(0.05)
    box.close()
    waiter.join(1.0)
    assert not waiter.is_alive() and got == [None]

    box2: Mailbox[int] = Mailbox()
    box2.put(7)
    box2.close()
    assert not box2.put(8)
    assert box2.get(0.1) == 7
    assert box2.get(0.1) is None


def test_concurrent_producer_consumer_never_repeat_or_reorder_and_account_for_every_item():
    box: Mailbox[int] = Mailbox()
    n = 20000

    def produce() -> None:
        for i in range(n):
            box.put(i)
        box.close()

    taken: list[int] = []
    producer = threading.Thread(target=produce)
    producer.start()
    while (item := box.get(2.0)) is not None:
        taken.append(item)
    producer.join(1.0)
    assert all(a < b for a, b in zip(taken, taken[1:], strict=False))
    assert taken[-1] == n - 1
    assert len(taken) + box.dropped == n
