"""The ``replyx`` command: serve, admin and assistant management."""

from __future__ import annotations

import asyncio
import logging.config
import os
import shutil
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from rich.console import Console

from replyx import memory
from replyx.broker import create_broker
from replyx.config import Settings, load_settings
from replyx.db.engine import create_engine, create_session_factory
from replyx.db.migrate import upgrade
from replyx.db.models import Operator
from replyx.diagnostics.logging import log_config
from replyx.domain import assistants, operators
from replyx.domain.context import ChatContext
from replyx.domain.demo import seed_demo
from replyx.domain.errors import DomainError
from replyx.domain.ratelimit import SlidingWindowLimiter
from replyx.domain.writer import create_writer

app = typer.Typer(help="replyx: self-hosted live chat with an assistant and human handoff.")
admin_app = typer.Typer(help="Manage owner accounts and operators.")
assistant_app = typer.Typer(help="Manage assistants.")
app.add_typer(admin_app, name="admin")
app.add_typer(assistant_app, name="assistant")
console = Console(stderr=True)
T = TypeVar("T")

# uvicorn takes a protocol class path where it does not know the name.
WS_IMPLS = {"replyx": "replyx.realtime.wsserver:FrameWebSocketProtocol"}


def _run_with_context(settings: Settings, action: Callable[[ChatContext], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(settings.effective_database_url)
        # The configured broker, so that what a command announces (an operator's sessions ending)
        # reaches the running servers of a cluster at once; single-process servers check on their own.
        broker = create_broker(settings.broker_url, on_message=lambda _t, _d: None, on_reconnect=_nothing)
        await broker.start()
        ctx = ChatContext(
            settings=settings,
            sessions=create_session_factory(engine),
            broker=broker,
            limiter=SlidingWindowLimiter(settings.rate_limit_window),
            writer=create_writer(engine, broker),
        )
        try:
            return await action(ctx)
        finally:
            await ctx.writer.close()
            await broker.close()
            ctx.passwords.close()
            await engine.dispose()

    return asyncio.run(run())


async def _nothing() -> None:
    return None


def _prepared_settings() -> Settings:
    settings = load_settings()
    upgrade(settings.effective_database_url)
    return settings


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (needs a Redis broker above 1).")] = 1,
    demo: Annotated[bool, typer.Option(help="Create a demo owner and assistant and print how to use them.")] = False,
) -> None:
    """Migrate the database, then serve replyx."""
    # Python objects from glibc's malloc, so that closed sockets' memory can be given back.
    memory.use_malloc_for_python_objects()
    settings = load_settings()
    logging.config.dictConfig(log_config(settings.log_level, settings.log_format))
    if workers > 1 and settings.uses_memory_broker:
        console.print(
            "[red]Refusing to start:[/] --workers "
            f"{workers} with the in-memory broker would split sockets between processes that "
            "cannot reach each other, so messages would reach only some windows.\n"
            "Set REPLYX_BROKER_URL=redis://HOST:6379/0 to run several workers, or use --workers 1."
        )
        raise typer.Exit(code=2)
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        console.print("[yellow]Several workers on SQLite: writes queue on one file; use PostgreSQL in production.[/]")
    upgrade(settings.effective_database_url)
    if workers > 1:
        _share_metrics_between_workers(settings, port)
    if demo:
        _print_demo(settings, host, port, _run_with_context(settings, seed_demo))
    proxies = settings.trusted_proxy_list
    uvicorn.run(
        "replyx.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(settings.log_level, settings.log_format),
        ws=WS_IMPLS.get(settings.ws_impl, settings.ws_impl),
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_max_size=settings.ws_max_frame_bytes,
        # Heartbeats are the application's own __ping__/__pong__ (see docs/realtime.md).
        ws_ping_interval=None,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=",".join(proxies) if proxies else None,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def _share_metrics_between_workers(settings: Settings, port: int) -> None:
    # Workers import prometheus_client after this, so they all write to one directory.
    directory = settings.data_dir / f"metrics-{port}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _print_demo(settings: Settings, host: str, port: int, demo: dict[str, Any]) -> None:
    base = settings.public_url or f"http://{host}:{port}"
    # Plain lines, never wrapped, so the token can be copied as one piece.
    console.rule("replyx demo")
    for label, value in (
        ("Admin panel", f"{base}/admin"),
        ("Demo page", f"{base}/demo"),
        ("Email", demo["email"]),
        ("Password", demo["password"]),
        ("Assistant id", demo["assistant_id"]),
        ("Site token", demo["site_token"]),
    ):
        console.print(f"{label:<13} {value}", soft_wrap=True, highlight=False)
    console.rule()


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="Login email.")],
    password: Annotated[str, typer.Option(help="Password, 8 characters or more.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create an owner account with its first operator."""
    _create_operator(lambda ctx: operators.create_owner(ctx, email=email, password=password, name=name))


@admin_app.command("add-operator")
def admin_add_operator(
    owner: Annotated[str, typer.Option(help="Email of an operator of the account to join.")],
    email: Annotated[str, typer.Option(help="Login email of the new operator.")],
    password: Annotated[str, typer.Option(help="Password, 8 characters or more.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Add an operator to an existing owner account."""
    _create_operator(
        lambda ctx: operators.add_operator(ctx, owner_email=owner, email=email, password=password, name=name)
    )


@admin_app.command("set-password")
def admin_set_password(
    email: Annotated[str, typer.Option(help="Login email of the operator.")],
    password: Annotated[str, typer.Option(help="The new password, 8 characters or more.")],
) -> None:
    """Replace an operator's password; their open sessions end (sockets close with 4001)."""
    _change_operator(email, lambda ctx: operators.set_password(ctx, email=email, password=password))


@admin_app.command("deactivate")
def admin_deactivate(email: Annotated[str, typer.Option(help="Login email of the operator.")]) -> None:
    """Stop an operator from logging in; their open sessions end at once on every node."""
    _change_operator(email, lambda ctx: operators.set_active(ctx, email=email, active=False))


@admin_app.command("activate")
def admin_activate(email: Annotated[str, typer.Option(help="Login email of the operator.")]) -> None:
    """Let a deactivated operator log in again."""
    _change_operator(email, lambda ctx: operators.set_active(ctx, email=email, active=True))


def _change_operator(email: str, action: Callable[[ChatContext], Awaitable[Operator | None]]) -> None:
    try:
        operator = _run_with_context(_prepared_settings(), action)
    except DomainError as error:
        console.print(f"[red]{error.detail}[/]")
        raise typer.Exit(code=1) from error
    if operator is None:
        console.print(f"[red]no operator with email {email}[/]")
        raise typer.Exit(code=1)
    typer.echo(f"operator_id={operator.id} email={operator.email} active={str(operator.active).lower()}")


def _create_operator(action: Callable[[ChatContext], Awaitable[Operator]]) -> None:
    try:
        operator = _run_with_context(_prepared_settings(), action)
    except DomainError as error:
        console.print(f"[red]{error.detail}[/]")
        raise typer.Exit(code=1) from error
    typer.echo(f"operator_id={operator.id} owner_id={operator.owner_id} email={operator.email}")


@assistant_app.command("create")
def assistant_create(
    owner: Annotated[str, typer.Option(help="Email of an operator of the owning account.")],
    name: Annotated[str, typer.Option(help="Assistant name.")],
    greeting: Annotated[str, typer.Option(help="First message of every dialog.")] = "",
) -> None:
    """Create an assistant and print its id and site token."""
    settings = _prepared_settings()

    async def create(ctx: ChatContext) -> str:
        operator = await operators.find_operator(ctx, owner)
        if operator is None:
            raise typer.BadParameter(f"no operator with email {owner}")
        assistant = await assistants.create(
            ctx, owner_id=operator.owner_id, fields={"name": name, "greeting": greeting}
        )
        return f"assistant_id={assistant.id} site_token={assistants.site_token(ctx, assistant)}"

    typer.echo(_run_with_context(settings, create))


@app.command()
def doctor(
    url: Annotated[str, typer.Argument(help="Public URL of the deployment, e.g. https://chat.example.com")],
    site_token: Annotated[str | None, typer.Option(help="Site token, to open a test dialog.")] = None,
    assistant_id: Annotated[int | None, typer.Option(help="Assistant id, when there is no site token.")] = None,
    token: Annotated[str | None, typer.Option(help="Operator JWT, to check the admin and inbox sockets.")] = None,
    hold: Annotated[float, typer.Option(help="Seconds to keep a socket idle, to catch proxy timeouts.")] = 0.0,
    origin: Annotated[str | None, typer.Option(help="A site origin to check against CSP and allowed domains.")] = None,
    sockets: Annotated[int, typer.Option(help="Sockets opened for the multi-process check.")] = 6,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Check a running deployment step by step; exit code 0 only when every step passes."""
    from replyx.diagnostics import doctor as checks

    if site_token and assistant_id is not None:
        raise typer.BadParameter("give --site-token or --assistant-id, not both")
    options = checks.DoctorOptions(
        url=url,
        site_token=site_token,
        assistant_id=assistant_id,
        token=token,
        hold=hold,
        origin=origin,
        sockets=sockets,
        timeout=timeout,
    )
    steps = checks.run_doctor(options)
    if as_json:
        typer.echo(checks.as_json(steps))
    else:
        _print_steps(steps)
    raise typer.Exit(code=1 if any(step.failed for step in steps) else 0)


def _print_steps(steps: list[Any]) -> None:
    out = Console()
    marks = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]", "skip": "[yellow]SKIP[/]"}
    for step in steps:
        out.print(f"{marks[step.status]} {step.number}. {step.name}: {step.summary}", highlight=False)
        if step.failed:
            out.print(f"     [bold]cause[/] {step.cause}", highlight=False)
            out.print("     [bold]fix[/]   " + step.fix.replace("\n", "\n           "), highlight=False)
    failed = sum(step.failed for step in steps)
    out.print("[green]All checks passed.[/]" if not failed else f"[red]{failed} check(s) failed.[/]")


def main() -> None:
    """Entry point of the ``replyx`` script."""
    app()
