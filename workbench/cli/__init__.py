"""The ``workbench`` command.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a
parser whose ``func`` default runs it and returns an exit code. Sub-command modules import
their heavy dependencies inside ``func``, so ``workbench --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from workbench.errors import WorkbenchError

#: Modules under ``workbench.cli`` that register sub-commands, in help order.
COMMAND_MODULES = ("detect", "embed", "evaluate", "gallery", "people", "live", "models")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Face recognition workbench: detect, embed, enroll, recognize, evaluate.",
    )
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"workbench.cli.{name}").register(subparsers)
    _add_verbose(subparsers)
    return parser


VERBOSE_HELP = "also show the log lines of MediaPipe, LiteRT and TensorFlow (hidden by default)"


def _add_verbose(subparsers: argparse._SubParsersAction) -> None:
    """``--verbose`` on every command, so it may follow the command as well as precede it."""
    for sub in subparsers.choices.values():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            for action in nested:
                _add_verbose(action)
            continue
        # SUPPRESS: absent here, the top-level value (given before the command) stays.
        sub.add_argument(
            "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input, 1 other failure)."""
    # Quiet TensorFlow's and MediaPipe's start-up chatter on the terminal. The variables
    # cover what still honours them; workbench.native_logs filters the rest at fd 2.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GLOG_minloglevel", "2")
    # OpenCV's "[ WARN:0@0.03] global cap.cpp:212 open VIDEOIO(FFMPEG)..." and FFmpeg's
    # "[mov,mp4 @ 0x...] moov atom not found" (2-11 lines) came before our own error
    # line for a bad video or camera ("[ERROR:0@0.05] ... Camera index out of range"
    # too); the SourceError says it in one. Read when cv2 loads, after this. OpenCV's
    # real failures raise cv2.error, which these do not silence.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    # Pillow logs some refusals ("More samples per pixel than can be decoded") before
    # raising, and warns about damaged fields ("Corrupt EXIF data", "could be a
    # decompression bomb"); load_image's error says what matters, so these are noise.
    logging.getLogger("PIL").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        from workbench.native_logs import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        os.environ["GLOG_minloglevel"] = "0"
        os.environ["OPENCV_LOG_LEVEL"] = "WARNING"
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "32"  # AV_LOG_INFO
    try:
        return int(args.func(args) or EXIT_OK)
    except WorkbenchError as exc:
        # Bad input, and only that: the package raises its own errors for what it was
        # given (unknown names are InvalidArgumentErrors). Anything else is a bug and
        # keeps its traceback and exit 1; a plain ValueError from numpy deep inside a
        # detector used to be printed as bad input here.
        print(f"workbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"workbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `workbench ... | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return EXIT_OK


#: MediaPipe's ranges (``workbench.detect.Range`` values; not imported here so that
#: ``workbench --help`` stays instant; a test checks they match).
RANGES = ("auto", "short", "full", "tiled")


#: ``--gallery`` of every command: a file, or a database several machines share.
GALLERY_HELP = "gallery file (.sqlite) or PostgreSQL URL (postgresql://user@host:port/db)"


def add_detector_arguments(parser: argparse.ArgumentParser, *, default: str = "mediapipe") -> None:
    """``--detector NAME`` and ``--range R``, the same on every command that detects."""
    other = "mtcnn" if default == "mediapipe" else "mediapipe"
    parser.add_argument("--detector", default=default, help=f"{default} (default) or {other}")
    parser.add_argument(
        "--range",
        choices=RANGES,
        default=None,
        help="mediapipe only: auto (default; short range, then a tiled full-range search "
        "for small and far faces when it finds none), short, full, or tiled (search "
        "tiles on every frame: faces down to about 16-20 px, also beside near ones; about "
        "10-20 frames/s at 640x480 on 2 cores)",
    )


def detector_options(args: argparse.Namespace) -> dict:
    """The detector's keyword options from :func:`add_detector_arguments`' flags.

    Raises:
        InvalidArgumentError: ``--range`` with a detector that has no ranges.
    """
    if args.range is None:
        return {}
    if args.detector != "mediapipe":
        from workbench.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"--range applies to the mediapipe detector, but got --detector {args.detector}"
        )
    return {"range": args.range}


def print_json_line(obj) -> None:
    """One JSON object per line, flushed, so a pipe reader sees results as they come."""
    import json

    print(json.dumps(obj, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.exit(main())
