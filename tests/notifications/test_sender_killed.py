"""The sender is killed (SIGKILL) in the middle of its batch, again and again: afterwards every
message went out, and none more than once more than it should (counted by Message-ID at the SMTP
server), each extra copy accounted for by a hand-over the outbox recorded as unconfirmed."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid

import psycopg

from application.notifications.dispatch import TWICE_UNCONFIRMED
from tests.api.support import order_body
from tests.notifications.conftest import MAIL_FROM
from tests.notifications.mailbox import Mailbox, SmtpServer

ORDERS = 40
KILLS = 6


def outbox(url: str, order_ids: list[str]) -> list[dict]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as curs:
        curs.execute("SELECT id, message_id, status, attempts, unconfirmed, last_error FROM notifications "
                     "WHERE order_id = ANY(%s::uuid[]) AND channel = 'email'", (order_ids,))
        return curs.fetchall()


def pending(url: str, order_ids: list[str]) -> int:
    return sum(1 for row in outbox(url, order_ids) if row["status"] == "pending")


def start_sender(url: str, smtp: SmtpServer) -> subprocess.Popen:
    env = dict(os.environ, OMS_DATABASE_URL=url, OMS_SMTP_URL=smtp.url, OMS_MAIL_FROM=MAIL_FROM)
    return subprocess.Popen([sys.executable, "-m", "infrastructure.cli", "notifications", "send"], env=env)


def test_a_sender_killed_mid_batch_sends_everything_and_nothing_more_than_once_extra(
        shop, deployment, notifications_database_url):
    url = notifications_database_url
    seed = random.randrange(2**32)
    chance = random.Random(seed)
    deployment.notifications.sender.stop()  # the sender in a process of its own does the sending here
    slow = Mailbox(delay=0.02)  # a server that takes its time between taking the data and its 250
    server = SmtpServer(slow).start()
    try:
        _, sku = shop.stocked(ORDERS)
        order_ids = []
        for n in range(ORDERS):
            body = order_body(sku, 1)
            body["customer"] = {"name": "Ada Lovelace", "email": f"kill-{n}-{uuid.uuid4().hex[:6]}@example.com"}
            order_ids.append(shop.place(body)["id"])
        deadline = time.monotonic() + 60
        while len(outbox(url, order_ids)) < ORDERS:  # every confirmation recorded, none sent yet
            assert time.monotonic() < deadline, "the outbox did not record the confirmations"
            time.sleep(0.1)
        assert pending(url, order_ids) == ORDERS

        kills = 0
        for _ in range(KILLS):
            before = slow.count()
            wanted = chance.randint(2, 6)  # 2 at least: the message a kill left in doubt is settled first
            sender = start_sender(url, server)
            deadline = time.monotonic() + 60
            while slow.count() < before + wanted and pending(url, order_ids) > 0 and sender.poll() is None:
                assert time.monotonic() < deadline, "the sender sent nothing"
                time.sleep(0.005)
            time.sleep(chance.uniform(0, 0.03))  # anywhere in the next message: MAIL, RCPT, DATA, the mark
            sender.send_signal(signal.SIGKILL)
            sender.wait(10)
            kills += 1
            if pending(url, order_ids) == 0:
                break

        sender = start_sender(url, server)  # and one left to finish
        try:
            deadline = time.monotonic() + 60
            while pending(url, order_ids):
                assert time.monotonic() < deadline, f"messages still pending (seed {seed})"
                time.sleep(0.05)
        finally:
            sender.terminate()
            sender.wait(10)

        rows = outbox(url, order_ids)
        copies = slow.message_ids()
        assert kills >= 3, f"only {kills} kills landed mid-batch (seed {seed})"
        for row in rows:
            received = copies[row["message_id"]]
            assert 1 <= received <= 2, (row, received, seed)  # every message out, at most once more
            assert received - 1 <= row["unconfirmed"], (row, received, seed)  # each extra copy accounted for
            assert row["status"] == "sent" or row["last_error"] == TWICE_UNCONFIRMED, (row, seed)
        print(f"seed {seed}: {kills} kills, {sum(copies[r['message_id']] - 1 for r in rows)} copies re-sent, "
              f"{sum(r['unconfirmed'] for r in rows)} hand-overs unconfirmed")
    finally:
        server.stop()
        deployment.notifications.sender.start()
