"""pytest plugin (``-p ourworker_plugin``, with tests/py on PYTHONPATH):
execnet's master in this pytest -- the pytest-xdist controller -- boots
bootstrap/worker.py instead of execnet's own worker, telling it to discard
fd 1 as execnet's worker does (conftest.execnet_bootstrap)."""

from execnet import gateway_bootstrap

from conftest import execnet_bootstrap

gateway_bootstrap.bootstrap_import = execnet_bootstrap
gateway_bootstrap.bootstrap_exec = execnet_bootstrap


def pytest_report_header():
    return "workers: execdeck's bootstrap/worker.py"
