"""The live-server fixtures of the fault-injection tests (gunicorn on a free port, a private Redis)."""

from tests.faults.conftest import private_redis, role_groups, web_server  # noqa: F401 - fixtures
