"""`clerk-migrate sandbox`: serve the Clerk Backend API simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from console.commands.common import EXIT_OK, CommandError
from console.sandbox import SandboxConfig, SandboxServer, make_key
from console.sandbox.instance_settings import SettingsFileError, default_user_settings, load_user_settings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _non_negative(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text} is negative")
        return value

    return parse


def _port(text: str) -> int:
    value = _non_negative(int)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    defaults = SandboxConfig()
    p = sub.add_parser(
        "sandbox",
        help="serve the Clerk Backend API simulator (prints its URL and test keys)",
        description="Serve a simulator of Clerk's Backend API user endpoints on this machine, "
        "with Clerk's limits, errors and optional latency and faults. Prints its URL and a "
        "production and a development test key, then serves until Ctrl-C.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8787, help="TCP port (default 8787; 0 = any free port)")
    p.add_argument("--latency-ms", type=_non_negative(float), default=0.0, metavar="N",
                   help="mean added latency per request")
    p.add_argument("--jitter-ms", type=_non_negative(float), default=0.0, metavar="N",
                   help="latency varies uniformly by up to ±N ms")
    p.add_argument("--fail-rate", type=_rate, default=0.0, metavar="F",
                   help="share of requests answered 5xx before anything is written")
    p.add_argument("--ambiguous-rate", type=_rate, default=0.0, metavar="F",
                   help="share of creates that are written but answered 502 or held past the client's timeout")
    p.add_argument("--ambiguous-hang-s", type=_non_negative(float), default=defaults.ambiguous_hang_s,
                   metavar="S", help=f"how long an ambiguous create holds its answer (default {defaults.ambiguous_hang_s:g})")
    p.add_argument("--drop-rate", type=_rate, default=0.0, metavar="F",
                   help="share of requests whose connection is closed without an answer")
    p.add_argument("--seed", type=int, default=0, help="seed of the latency and fault draws")
    p.add_argument("--production-limit", type=_non_negative(int), default=defaults.production_limit,
                   metavar="N", help=f"requests per window per production key (default {defaults.production_limit})")
    p.add_argument("--development-limit", type=_non_negative(int), default=defaults.development_limit,
                   metavar="N", help=f"requests per window per development key (default {defaults.development_limit})")
    p.add_argument("--window-s", type=_non_negative(float), default=defaults.window_s, metavar="S",
                   help=f"rate-limit window in seconds (default {defaults.window_s:g})")
    p.add_argument("--dev-user-cap", type=_non_negative(int), default=defaults.dev_user_cap, metavar="N",
                   help=f"users a development instance holds (default {defaults.dev_user_cap})")
    p.add_argument("--settings", metavar="FILE.json", default=None,
                   help="the instance's settings, shaped like the Frontend API's user_settings (partial allowed; "
                   "default: email + password, Google and GitHub, no username, no legal consent)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    if args.window_s <= 0:
        raise CommandError("--window-s must be more than 0", 2)
    try:
        user_settings = load_user_settings(args.settings) if getattr(args, "settings", None) else default_user_settings()
    except SettingsFileError as exc:
        raise CommandError(f"--settings {exc}", 2) from None
    return SandboxConfig(
        user_settings=user_settings,
        production_limit=args.production_limit,
        development_limit=args.development_limit,
        window_s=args.window_s,
        dev_user_cap=args.dev_user_cap,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        fail_rate=args.fail_rate,
        ambiguous_rate=args.ambiguous_rate,
        ambiguous_hang_s=args.ambiguous_hang_s,
        drop_rate=args.drop_rate,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    server = SandboxServer(config, host=args.host, port=args.port)
    try:
        url = server.start()
    except RuntimeError as exc:
        raise CommandError(f"{exc} (is the port in use? try --port 0)", 2) from None

    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    if previous is not None:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        out = sys.stdout
        out.write(f"Clerk Backend API sandbox listening on {url}\n")
        out.write(f"  production key:  {make_key('production')}\n")
        out.write(f"  development key: {make_key('development')}\n")
        out.write(f"  rotated keys:    {make_key('production', rotation=1)} (production), "
                  f"{make_key('development', rotation=1)} (development): the same instances\n")
        out.write(f"  publishable:     {server.publishable_key('production')} (production), "
                  f"{server.publishable_key('development')} (development)\n")
        out.write(f"  use it:          CLERK_API_URL={url} CLERK_SECRET_KEY=<one of the keys above>\n")
        out.write(f"  frontend API:    CLERK_FRONTEND_API_URL={url} (GET /v1/environment: the instance's settings"
                  f"{', from ' + args.settings if getattr(args, 'settings', None) else ''})\n")
        out.write(
            f"  limits:          production {config.production_limit}, development "
            f"{config.development_limit} requests / {config.window_s:g} s per key; "
            f"development instances hold {config.dev_user_cap} users\n"
        )
        if config.latency_ms or config.jitter_ms or config.fail_rate or config.ambiguous_rate or config.drop_rate:
            out.write(
                f"  faults:          latency {config.latency_ms:g}±{config.jitter_ms:g} ms, fail "
                f"{config.fail_rate:g}, ambiguous {config.ambiguous_rate:g}, drop {config.drop_rate:g}, "
                f"seed {config.seed}\n"
            )
        if args.host not in LOOPBACK:
            out.write(f"  note:            listening on {args.host}, not only on loopback\n")
        out.write("Any sk_live_… / sk_test_… key is its own instance. Ctrl-C stops.\n")
        out.flush()
        while not stop.is_set():
            if server.wait(0.5):  # the server ended by itself
                raise CommandError("the sandbox stopped unexpectedly", 1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return EXIT_OK
