"""The ``callport`` command line: the parser, settings from options, and ``serve``.

Each other command runs in its own module: ``cli_talk``, ``cli_call``, ``cli_users`` (users,
tokens, tasks), ``cli_routing`` (routes, calls), ``cli_ivr`` (voicemail), ``cli_recordings``,
``cli_privacy``, ``cli_queues``, ``cli_drain``, ``cli_skills``, ``cli_where``; ``doctor``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from callport import __version__, cli_ivr, cli_skills, cli_users
from callport.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

log = logging.getLogger("callport")

EPILOG = """\
configuration: a TOML file (--config or CALLPORT_CONFIG) and CALLPORT_* environment
variables (CALLPORT_DB, CALLPORT_PORT, CALLPORT_TWILIO_AUTH_TOKEN, ...); see
docs/configuration.md. Run `callport doctor` to check models, ports and optional packages.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="callport",
        description="Make a voice agent reachable by phone (Twilio, Telnyx, SIP) and browser.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"callport {__version__}")
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--db", help="SQLite database file or postgresql:// URL (default: "
                   "callport.db in the data directory, see `callport where`; env CALLPORT_DB)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway (web, Twilio, Telnyx, SIP channels)")
    serve.add_argument("--host", help="HTTP listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP listen port (default 8080)")
    serve.add_argument("--sip-port", type=int, help="enable SIP on this UDP/TCP port")
    serve.add_argument("--no-warmup", action="store_true", help="load models on first call")
    serve.add_argument("--node-id", metavar="NAME", help="this node's name among several "
                       "(health, metrics, call ownership; default: hostname-port; env "
                       "CALLPORT_NODE_ID)")
    _agent_options(serve)
    cli_ivr.add_ivr_option(serve)

    talk = sub.add_parser(
        "talk",
        help="run a conversation from WAV files through the same CallSession as a real call",
        description="Each WAV file is the caller's next turn, so confirmations work.",
    )
    talk.add_argument("wavs", nargs="+", type=Path, metavar="IN.wav")
    talk.add_argument("--out", type=Path, help="write the agent's audio to this WAV file")
    talk.add_argument("--phone", action="store_true", help="8 kHz mu-law both ways, like PSTN")
    talk.add_argument("--json", action="store_true", help="print the turns as JSON")
    talk.add_argument("--caller", metavar="+E164", help="caller ID: the call is identified as "
                      "that number's user (PIN and all); default: act as the owner")
    _agent_options(talk)
    cli_ivr.add_ivr_option(talk)
    cli_ivr.add_at_option(talk)

    cli_users.add_parsers(sub)  # users, tokens, tasks
    cli_skills.add_parsers(sub)  # skills install DIR
    cli_ivr.add_parsers(sub)  # voicemail list/save
    from callport import cli_routing

    cli_routing.add_parsers(sub)  # routes explain, calls list/export
    from callport import cli_recordings

    cli_recordings.add_parsers(sub)  # recordings list/export
    from callport import cli_privacy

    cli_privacy.add_parsers(sub)  # privacy export
    from callport import cli_queues

    cli_queues.add_parsers(sub)  # queues status
    from callport import cli_drain

    cli_drain.add_parsers(sub)  # drain [--resume] [--wait S]

    call = sub.add_parser("call", help="place an outbound call that runs the default flow")
    call.add_argument("to", help="+15551234567, tel:+1555..., or sip:user@host")
    call.add_argument("--via", help="carrier: twilio, telnyx, sip, or with [routing] a "
                      "[sip.trunks.NAME] trunk (default: least-cost routing when [routing] "
                      "is configured, else sip for sip: URIs, else the only configured one; "
                      "required when several are configured)")
    call.add_argument("--from", dest="from_", default="", help="caller ID / from number")
    call.add_argument("--amd", choices=("off", "hangup", "leave-message", "continue"),
                      help="answering-machine detection for this call (default: routing.amd):"
                      " hang up on a machine, leave --message after its beep, or only record")
    call.add_argument("--message", default=None,
                      help="with --amd leave-message: what is said after the beep")
    _agent_options(call)

    sub.add_parser("doctor", help="check models, ports and optional dependencies")
    sub.add_parser("where", help="print where callport keeps its database, configuration, "
                   "web assets and models")
    _options_anywhere(sub)
    return p


def _options_anywhere(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``--config``/``--db`` after any subcommand too (``callport serve --db x.db``); given
    there they win over the same option before the subcommand."""
    for parser in sub.choices.values():
        have = {opt for action in parser._actions for opt in action.option_strings}
        if "--config" not in have:
            parser.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                                help="TOML configuration file")
        if "--db" not in have:
            parser.add_argument("--db", default=argparse.SUPPRESS,
                                help="SQLite database file or postgresql:// URL")


def _agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", metavar="AGENT", help="your agent factory, e.g. "
                        "mybot.agent:make_agent, or an adapter: relay:wss://app/ws (a "
                        "ConversationRelay app), llm:http://host/v1 (an OpenAI-compatible chat "
                        "endpoint) (default: the Task Manager; env CALLPORT_AGENT)")
    parser.add_argument("--flow", metavar="MODULE:ATTR", help="your call flow, e.g. "
                        "mybot.flows:main (default: greet, then the agent; env CALLPORT_FLOW)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if args.db:
        settings = replace(settings, server=replace(settings.server, db=args.db))
    if getattr(args, "host", None):
        settings = replace(settings, server=replace(settings.server, host=args.host))
    if getattr(args, "port", None) is not None:
        settings = replace(settings, server=replace(settings.server, port=args.port))
    for name in ("agent", "flow", "ivr", "node_id"):
        if ref := getattr(args, name, None):
            settings = replace(settings, server=replace(settings.server, **{name: ref}))
    if getattr(args, "sip_port", None) is not None:
        settings = replace(settings, sip=replace(settings.sip, enabled=True, port=args.sip_port))
    from callport.config_check import range_problems

    wrong = range_problems("server", settings.server, {"port": "--port"}) + range_problems(
        "sip", settings.sip, {"port": "--sip-port"})
    wrong += [p.replace("server.node_id", "--node-id") for p in settings.server.problems()
              if p.startswith("server.node_id") and getattr(args, "node_id", None)]
    wrong += [p.replace("server.db", "--db") for p in settings.server.problems()
              if p.startswith("server.db") and args.db]  # mysql://...: refused, not a folder
    if wrong:  # an option out of range, checked as its setting would be
        raise ConfigError(wrong[0])
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = _parser().parse_args(argv)
    if args.command == "skills":  # needs no configuration
        return cli_skills.run(args)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return 2
    from callport.logs import setup_logging

    quiet = (args.command in ("talk", "routes", "calls", "voicemail", "recordings", "privacy",
                              "drain")
             or args.command in cli_users.COMMANDS)
    setup_logging("warning" if quiet else settings.server.log_level,
                  settings.server.log_format)
    if args.command == "where":
        from callport.cli_where import print_where

        return print_where(settings, config=args.config)
    if args.command not in ("doctor", "drain"):  # doctor changes nothing; drain asks a node
        from callport.cli_where import prepare_db

        try:
            prepare_db(settings, explicit=bool(args.db))
        except OSError as exc:
            print(f"callport: cannot create the database folder for {settings.server.db}: "
                  f"{exc.strerror}; pass --db PATH or set CALLPORT_DB", file=sys.stderr)
            return 2
    from callport.cli_where import UsageError
    from callport.speech.base import MissingSpeechDependency

    try:
        match args.command:
            case "serve":
                return _serve(settings, warmup=not args.no_warmup)
            case "talk":
                from callport import cli_talk

                return asyncio.run(cli_talk.run(settings, args))
            case "voicemail":
                return asyncio.run(cli_ivr.run(settings, args))
            case "users" | "tokens" | "tasks":
                return asyncio.run(cli_users.run(settings, args))
            case "routes" | "calls":
                from callport import cli_routing

                return asyncio.run(cli_routing.run(settings, args))
            case "recordings":
                from callport import cli_recordings

                return asyncio.run(cli_recordings.run(settings, args))
            case "privacy":
                from callport import cli_privacy

                return asyncio.run(cli_privacy.run(settings, args))
            case "queues":
                from callport import cli_queues

                return asyncio.run(cli_queues.run(settings, args))
            case "drain":
                from callport import cli_drain

                return cli_drain.run(settings, args)
            case "call":
                from callport import cli_call

                return asyncio.run(cli_call.run(settings, args))
            case "doctor":
                from callport.doctor import run_doctor

                return run_doctor(settings)
    except ConfigError as exc:  # e.g. an --agent/--flow reference that does not load
        print(f"callport: {exc}", file=sys.stderr)
        return 2
    except MissingSpeechDependency as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return 3
    except UsageError as exc:  # a mistake of the person at the keyboard: one line, exit 2
        print(f"callport: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


def _serve(settings: Settings, *, warmup: bool) -> int:
    from callport.server.app import create_app
    from callport.server.lifecycle import serve
    from callport.server.runtime import build_runtime

    if settings.sip.enabled:  # before anything loads: a public SIP bind needs a guard
        from callport.channels.sip.trust import check_exposure

        check_exposure(settings.sip)
    from callport.cli_where import check_ports

    check_ports(settings)  # busy ports: one line, before models load or "open http://" shows
    runtime = build_runtime(settings)
    if warmup:
        print("callport: loading speech models (VAD, Whisper, TTS, intents)...", file=sys.stderr)
        asyncio.run(runtime.warmup())
    app = create_app(runtime)
    host, port = settings.server.host, settings.server.port
    who = settings.server.agent or "the Task Manager"
    print(f"callport: open http://{host}:{port}/ to talk to {who}", file=sys.stderr)
    _print_signin_link(settings, runtime)
    import signal

    from callport.server.drain import on_sigusr1

    signal.signal(signal.SIGUSR1, on_sigusr1(runtime))  # drain mode: finish calls, take none
    # SIGTERM: stop admitting calls, hang up live ones, exit 0 within server.shutdown_grace_s.
    return serve(app, runtime, host=host, port=port, log_level=settings.server.log_level,
                 grace_s=settings.server.shutdown_grace_s, limits=settings.limits,
                 trusted_proxies=settings.server.trusted_proxies, metrics=runtime.metrics)


def _print_signin_link(settings: Settings, runtime: Runtime) -> None:
    """First run: create the owner; while it has no password, a fresh one-time sign-in link."""
    from callport.server.firstrun import owner_signin_link
    from callport.store.users import UserError

    try:
        link = asyncio.run(owner_signin_link(settings, users=runtime.users,
                                             tokens=runtime.tokens))
    except UserError as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return
    if link is not None:
        print(f"callport: sign in at {link}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
