pytest_plugins = ["simulators.pytest_plugin", "tests.support.mosquitto", "tests.support.victoria",
                  "tests.support.influxdb1", "tests.support.ingest"]
