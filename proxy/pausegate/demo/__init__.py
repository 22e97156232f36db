"""Demo root: `pausegate demo`, a whole call through pausegate on one machine (SPEC §7)."""

from pausegate.demo.run import DemoOptions, add_arguments, run_demo

__all__ = ["DemoOptions", "add_arguments", "run_demo"]
