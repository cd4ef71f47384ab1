"""``sognet`` entry point: dispatches to ``openmm_sog.cli.<command>``.

User errors (a bad config, a missing or unreadable file, a run folder that holds another run)
are printed as one line, ``sognet <command>: error: <message>``, with exit status 1; other
exceptions are bugs and keep their traceback. ``--debug`` keeps the traceback for all errors.
Warnings are printed as ``sognet <command>: warning: <message>``.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import warnings

COMMANDS = {
    "train": "train a SOG-Net from a YAML config",
    "eval": "energy/force errors of a model on a data set",
    "export": "write a TorchScript file with metadata",
    "plot": "parity plot, learning curve, learned kernel",
    "generate": "generate labelled data (electrolyte: molten-NaCl toy system)",
}

#: Exceptions that report what the user gave (config, files, options), not a bug in sognet.
#: ``SognetError``, ``ConfigError`` and the model files' format errors are ValueErrors;
#: ``UnpicklingError`` is what ``torch.load`` raises on a file that is no checkpoint at all.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, pickle.UnpicklingError)


def version_text() -> str:
    """``sognet`` version line: this package, torch, OpenMM and Python."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    python = ".".join(map(str, sys.version_info[:3]))
    return (
        f"sognet {of('openmm-sog')} (torch {of('torch')}, openmm {of('openmm')}, python {python})"
    )


def usage() -> str:
    lines = ["usage: sognet [--version] [--debug] {" + ",".join(COMMANDS) + "} ...", ""]
    lines += [f"  {name:<9} {text}" for name, text in COMMANDS.items()]
    lines += ["", "  --version print the versions of sognet, torch and OpenMM"]
    lines += ["  --debug   show the traceback of every error (default: one line for user errors)"]
    lines += ["", "'sognet <command> --help' describes a command's options."]
    return "\n".join(lines)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if (
        isinstance(error, OSError)
        and error.filename is not None
        and str(error.filename) not in text
    ):
        text = f"{text}: {error.filename}"
    return text


def main(argv: list[str] | None = None) -> int:
    """Run ``sognet [--debug] <command> [args]``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1]
    if debug:
        argv = argv[1:]
    if argv[:1] == ["--version"]:
        print(version_text())
        return 0
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return 0
    if not argv:
        print(usage(), file=sys.stderr)
        print("sognet: error: no command given", file=sys.stderr)
        return 2
    command = argv[0]
    if command not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(
            f"sognet: error: unknown command {command!r}; choose from {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(f"openmm_sog.cli.{command}")
    with warnings.catch_warnings():
        warnings.showwarning = _warning_printer(command)
        try:
            return int(module.main(argv[1:]) or 0)
        except USER_ERRORS as error:
            if debug:
                raise
            print(f"sognet {command}: error: {_one_line(error)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"sognet {command}: interrupted", file=sys.stderr)
            return 130


def _warning_printer(command: str):
    """``warnings.showwarning`` that prints ``sognet <command>: warning: <message>``."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"sognet {command}: warning: {_one_line(message)}", file=file or sys.stderr)

    return show


if __name__ == "__main__":
    sys.exit(main())
