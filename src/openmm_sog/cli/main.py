"""``sognet`` entry point: dispatches to ``openmm_sog.cli.<command>``."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": "train a SOG-Net from a YAML config",
    "eval": "energy/force errors of a model on a data set",
    "export": "write a TorchScript file with metadata",
    "plot": "parity plot, learning curve, learned kernel",
    "generate": "generate labelled data (electrolyte: molten-NaCl toy system)",
}


def main(argv: list[str] | None = None) -> int:
    """Run ``sognet <command> [args]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: sognet {" + ",".join(COMMANDS) + "} ...\n")
        for name, text in COMMANDS.items():
            print(f"  {name:<9} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"openmm_sog.cli.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
