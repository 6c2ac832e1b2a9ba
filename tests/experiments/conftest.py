import os

import pytest


def pytest_configure(config):
    pytest.configs = os.path.join(os.path.dirname(__file__), "../../experiments/configs")
