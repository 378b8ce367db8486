pytest_plugins = ["simulators.pytest_plugin"]
