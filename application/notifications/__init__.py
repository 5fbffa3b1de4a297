"""Customer notifications: what an event of an order tells its customer, in which language, how it
is rendered (e-mail and SMS), and how the outbox's messages are handed to the mail server or the
SMS provider. The outbox itself is written from the event feed (``projections.notifications``)
and sent by a worker (``infrastructure.notification_sender``); docs/architecture.md, "Customer
notifications", says what is guaranteed.
"""
