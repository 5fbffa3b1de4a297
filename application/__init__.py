"""Use cases of the OMS: command handlers, the event-sourced application, policies and ports."""
