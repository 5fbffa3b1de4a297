"""Runs an application policy (e.g. payments) over the event feed with a projection's runner:
the same single active process (advisory lock), takeover, retries and tracked position.

The policy acts in ``stage`` (outside the tracking transaction); the position is recorded after
it succeeded, so delivery is at least once and the policy must be idempotent.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import get_topic
from psycopg import Cursor

from projections.base import BatchProjection, Positioned, ReadModelView
from projections.names import tracking_table_name
from projections.runner import ProjectionRunner


class PolicyView(ReadModelView):
    """No tables of its own: only the tracking position."""

    tables = ()
    ddl = ()


class PolicyFeed(BatchProjection[PolicyView]):
    def __init__(self, view: PolicyView, policy: Any) -> None:
        super().__init__(view)
        self.policy = policy
        self.name = policy.name
        self._topics = {get_topic(cls) for cls in policy.trigger_types}

    def interested(self, topic: str) -> bool:
        return topic in self._topics

    def stage(self, events: Sequence[Positioned]) -> None:
        self.policy.process(event for _, event in events)

    def write(self, curs: Cursor[Any], staged: None) -> None:
        pass


def build_policy_runner(app: Any, policy: Any, **runner_options: Any) -> ProjectionRunner:
    from projections import projection_env

    view = PolicyView(PostgresFactory(projection_env(app, policy.name)).datastore,
                      tracking_table_name=tracking_table_name(policy.name))
    runner = ProjectionRunner(app, PolicyFeed(view, policy), batch_size=500, rebuild_batch_size=500,
                              **runner_options)
    runner.create_tables()
    return runner
