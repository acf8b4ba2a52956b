"""Command line: `sharpeyes run | api | analyze | check`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from models.registry import ModelError
from sharpeyes.config import Config, ConfigError, load_config
from sharpeyes.logs import configure_logging
from streams.urls import url_secrets

log = logging.getLogger("sharpeyes")

EXIT_USAGE = 2


def camera_secrets(config: Config) -> tuple[str, ...]:
    found: list[str] = []
    for camera in config.cameras.values():
        found.extend(url_secrets(camera.url))
    return tuple(found)


def command_run(config: Config, args: argparse.Namespace) -> int:
    from sharpeyes.service import GIL_SWITCH_INTERVAL_S, Service

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    Service(config, config_path=args.config).run()
    return 0


def command_api(config: Config, args: argparse.Namespace) -> int:
    import redis
    import uvicorn

    from alerts.api import create_app
    from alerts.redis_server import find_running
    from alerts.store import AlertStore

    url = config.redis_url
    if url is None:
        # The embedded Redis belongs to `sharpeyes run`; the API only joins it.
        url = find_running(config.data_dir / "redis")
        if url is None:
            raise ConfigError(
                f"redis_url: null, and no embedded Redis runs under "
                f"{str(config.data_dir / 'redis')!r}; start `sharpeyes run` with "
                f"this config first, or set redis_url"
            )
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    evidence_dir = config.data_dir / "evidence"
    store = AlertStore(
        client,
        stream_key=config.alerts.stream_key,
        stream_maxlen=config.alerts.stream_maxlen,
        evidence_dir=evidence_dir,
    )
    host = args.host or config.api.host
    port = args.port if args.port is not None else config.api.port
    forwarder = None
    if config.forwarder.url:
        from alerts.forwarder import ForwarderSettings

        forwarder = ForwarderSettings(
            url=config.forwarder.url,
            secret=config.forwarder.secret,
            stream_key=config.alerts.stream_key,
            timeout_s=config.forwarder.timeout_s,
        )
    uvicorn.run(
        create_app(store, evidence_dir, forwarder),
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
    )
    return 0


def command_analyze(config: Config, args: argparse.Namespace) -> int:
    import av

    from sharpeyes.service import build_detector
    from vision.analyze import analyze_file, print_event

    if args.camera not in config.cameras:
        known = ", ".join(sorted(config.cameras)) or "none"
        raise ConfigError(
            f"--camera: no camera {args.camera!r} in config (cameras: {known})"
        )
    video = Path(args.video)
    if not video.is_file():
        raise ConfigError(f"VIDEO: file {str(video)!r} not found")
    if args.counts is not None and not args.counts.parent.is_dir():
        raise ConfigError(f"--counts: folder {str(args.counts.parent)!r} not found")
    start_wall = parse_utc(args.start, "--start") if args.start else None
    detector = build_detector(config)
    counts: dict = {}
    try:
        frames = analyze_file(
            video,
            args.camera,
            config.cameras[args.camera],
            detector,
            print_event,
            start_wall=start_wall,
            counts=counts,
        )
    except (av.error.FFmpegError, IndexError) as error:
        raise ConfigError(
            f"VIDEO: cannot decode {str(video)!r} as video: {error}"
        ) from None
    log.info("analysed %d frames of %s", frames, video)
    if args.counts is not None:
        args.counts.write_text(json.dumps(counts, indent=2) + "\n")
    return 0


def command_replay(config: Config, args: argparse.Namespace) -> int:
    import httpx
    import redis

    from alerts.forwarder import ForwarderSettings, replay
    from alerts.redis_server import find_running

    forwarder = config.forwarder
    if not forwarder.url:
        raise ConfigError("forwarder.url: not set, so there is nowhere to replay to")
    url = config.redis_url or find_running(config.data_dir / "redis")
    if url is None:
        raise ConfigError("redis_url: null, and no embedded Redis runs for data_dir")
    since, until = parse_utc(args.since, "--since"), parse_utc(args.until, "--until")
    if since > until:
        raise ConfigError(f"--since: {args.since!r} is after --until {args.until!r}")
    settings = ForwarderSettings(
        url=forwarder.url,
        secret=forwarder.secret,
        stream_key=config.alerts.stream_key,
        timeout_s=forwarder.timeout_s,
    )
    try:
        count = replay(
            redis.Redis.from_url(url), settings, int(since * 1000), int(until * 1000)
        )
    except httpx.HTTPError as error:
        raise ConfigError(
            f"forwarder.url: posting to the webhook failed ({error}); nothing more "
            "was replayed, so run the same command again once it answers"
        ) from None
    print(f"replayed {count} events")
    return 0


def redis_for_tools(config: Config):
    """Connect a command-line tool to the service's Redis; never start one."""
    import redis

    from alerts.redis_server import find_running

    url = config.redis_url or find_running(config.data_dir / "redis")
    if url is None:
        raise ConfigError(
            "redis_url: null, and no embedded Redis runs for data_dir; start "
            "`sharpeyes run` first or set redis_url"
        )
    return redis.Redis.from_url(url)


def command_token(config: Config, args: argparse.Namespace) -> int:
    from alerts.audit import AuditLog
    from alerts.auth import TokenStore

    if args.action in ("create", "revoke") and not args.name:
        raise ConfigError(f"--name: required with {args.action}")
    client = redis_for_tools(config)
    tokens = TokenStore(client)
    if args.action == "create":
        try:
            token = tokens.create(args.name, args.role, args.squad)
        except ValueError as error:
            raise ConfigError(f"--role: {error}") from None
        AuditLog(client).append(
            "cli", "admin", "token_create", args.name, detail={"role": args.role}
        )
        print(token)
    elif args.action == "revoke":
        if not tokens.revoke(args.name):
            raise ConfigError(f"--name: no token named {args.name!r}")
        AuditLog(client).append("cli", "admin", "token_revoke", args.name)
        print(f"revoked {args.name}")
    else:
        for record in tokens.list():
            print(f"{record['name']}\t{record['role']}\t{record.get('squad') or ''}")
    return 0


def command_audit(config: Config, _args: argparse.Namespace) -> int:
    from alerts.api import evidence_files
    from alerts.audit import AuditLog
    from alerts.store import AlertStore

    client = redis_for_tools(config)
    store = AlertStore(client, evidence_dir=config.data_dir / "evidence")
    report = AuditLog(client).verify(
        evidence_files(store, config.data_dir / "evidence")
    )
    print(
        f"{report['records']} audit records, "
        f"{report['evidence_checked']} evidence files checked"
    )
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")
    return 1 if report["problems"] else 0


def parse_utc(value: str, option: str) -> float:
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{option}: {value!r} needs a UTC offset, e.g. Z")
    return moment.timestamp()


def command_check(config: Config, _args: argparse.Namespace) -> int:
    from models.registry import load_model_spec
    from vision.detector import choose_providers

    spec = load_model_spec(config.model.name, config.model.dir)
    choose_providers(config.model.providers)
    print(
        f"config valid: {len(config.cameras)} cameras, model {spec.name} ({spec.path})"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharpeyes",
        description="Streaming video analytics: RTSP cameras to incident alerts.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", required=True, type=Path, help="YAML config file")
        return sub

    run = add("run", "Read the cameras, detect, apply rules and publish alerts.")
    run.set_defaults(handler=command_run)

    api = add("api", "Serve the HTTP API only, reading alerts from Redis.")
    api.add_argument("--host", help="address to bind (default: api.host)")
    api.add_argument("--port", type=int, help="TCP port (default: api.port)")
    api.set_defaults(handler=command_api)

    analyze = add(
        "analyze",
        "Run one camera's detector and rules on a video file and print one JSON "
        "line per incident event.",
    )
    analyze.add_argument("video", help="video file to analyse")
    analyze.add_argument("--camera", required=True, help="camera id whose rules apply")
    analyze.add_argument(
        "--start",
        help="UTC time the recording started (ISO-8601 with offset); event times "
        "and active hours follow it (default: the file's creation_time, else now)",
    )
    analyze.add_argument(
        "--counts",
        type=Path,
        help="write the line counts at the end of the file to this JSON file",
    )
    analyze.set_defaults(handler=command_analyze)

    replay_parser = add(
        "replay",
        "Post the events stored between two times to the governance webhook again.",
    )
    replay_parser.add_argument(
        "--since", required=True, help="ISO-8601 time with offset"
    )
    replay_parser.add_argument(
        "--until", required=True, help="ISO-8601 time with offset"
    )
    replay_parser.set_defaults(handler=command_replay)

    token = add("token", "Create, list or revoke API bearer tokens.")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("--name", default="", help="token name (create, revoke)")
    token.add_argument(
        "--role",
        default="operator",
        help="operator, squad, engineer, auditor or admin (create)",
    )
    token.add_argument("--squad", help="squad id, for squad tokens (create)")
    token.set_defaults(handler=command_token)

    audit = add(
        "audit",
        "Verify the audit log's hash chain and every evidence file's sha256; "
        "exit 1 when anything was changed or deleted.",
    )
    audit.add_argument("action", choices=["verify"])
    audit.set_defaults(handler=command_audit)

    check = add("check", "Validate the config and the model file, then exit.")
    check.set_defaults(handler=command_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"sharpeyes: invalid config: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(config.log_level, camera_secrets(config))
    from alerts.redis_server import RedisStartError
    from sharpeyes.service import ServiceError

    try:
        return args.handler(config, args)
    except (ConfigError, ModelError, ServiceError, RedisStartError) as error:
        print(f"sharpeyes: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
