"""MediaDesk's benchmark suite: `python -m bench all [--quick]`, or `python -m bench NAME`."""
