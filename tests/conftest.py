pytest_plugins = ["simulators.pytest_plugin", "tests.support.mosquitto"]
