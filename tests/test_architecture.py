"""Dependencies point one way: the contracts in pyproject.toml ([tool.importlinter]) hold."""
from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_the_layers_depend_only_downwards(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(no_cache=True, no_logo=True) == 0


# The boundary between the API and the writer: what the routes call (``Commands``) is the same
# interface whether the writer runs in this process (``OrderService``) or in its own
# (``RemoteCommands``), and the wire's types line up. The rest of the code base is not held to
# mypy yet (docs/architecture.md).
TYPED_BOUNDARY = ["application/commands.py", "application/service.py", "infrastructure/bootstrap.py",
                  "infrastructure/writer_client.py", "infrastructure/writer_process.py",
                  "infrastructure/writer_wire.py"]


def test_the_api_and_the_writer_agree_on_the_commands_interface():
    from mypy import api

    stdout, stderr, status = api.run(["--follow-imports=silent", "--ignore-missing-imports", "--no-incremental",
                                      *(str(ROOT / path) for path in TYPED_BOUNDARY)])
    assert status == 0, stdout + stderr
