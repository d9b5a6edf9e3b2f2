"""``astroflow user add|list|remove|passwd``: local accounts in the server's database."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from astroflow.accounts.passwords import PasswordError, check_password_text
from astroflow.accounts.users import AccountError, Users

EXIT_OK, EXIT_INVALID = 0, 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="local accounts that sign in to the portal with a password")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--roles", default="", help="comma-separated roles")
    passwd = user_sub.add_parser("passwd", help="set an account's password")
    passwd.add_argument("name")
    for command in (add, passwd):
        command.add_argument("--password-stdin", action="store_true",
                             help="read the password from standard input (first line)")
    remove = user_sub.add_parser("remove", help="delete an account")
    remove.add_argument("name")
    listing = user_sub.add_parser("list", help="list the accounts and their roles")
    listing.add_argument("--json", action="store_true")
    for command in (add, passwd, remove, listing):
        command.add_argument("--db", default=None, help="SQLAlchemy URL (as the server's)")
        command.add_argument("--data-dir", type=Path, default=None,
                             help="the server's data directory (its SQLite database)")


def _users(args: argparse.Namespace) -> Users:
    from astroflow.jobs.store import JobStore
    from astroflow.server.config import ServerConfig

    config = ServerConfig.from_env(db=args.db, data_dir=args.data_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(config.db_url)
    store.migrate()  # the users table arrives with the job store's migrations
    return Users(store.engine)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise PasswordError("the two passwords differ")
    check_password_text(password)
    return password


def cmd_user(args: argparse.Namespace) -> int:
    try:
        users = _users(args)
        if args.user_command == "add":
            roles = [r for r in args.roles.split(",") if r.strip()]
            from astroflow.accounts.users import check_name, check_roles

            check_name(args.name)
            check_roles(roles)
            user = users.add(args.name, roles, _password(args))
            print(f"added {user.name} (roles: {', '.join(user.roles) or 'none'})")
        elif args.user_command == "passwd":
            if users.get(args.name) is None:
                raise AccountError(f"no user named {args.name!r}")
            users.set_password(args.name, _password(args))
            print(f"password of {args.name} changed")
        elif args.user_command == "remove":
            users.remove(args.name)
            print(f"removed {args.name}")
        else:
            listed = users.list()
            if args.json:
                print(json.dumps([{"name": u.name, "roles": list(u.roles),
                                   "password": u.has_password} for u in listed], indent=2))
            else:
                for u in listed:
                    print(f"{u.name:<24} {','.join(u.roles) or '-'}")
    except (AccountError, PasswordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
