"""Test support for export-db: the Auth.js adapters' schemas (as their tools
create them) and a throwaway PostgreSQL cluster.

Not a conftest: test modules and the benchmark load it by path (see `load()` at
the bottom of those files), so no fixture here leaks into other tests.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# --------------------------------------------------------------------------
# Schemas. The Prisma ones are what `prisma migrate` generates for the Auth.js
# Prisma adapter's schema.prisma (plus the createdAt/updatedAt and password
# columns apps commonly add); the pg one is @auth/pg-adapter's documented
# schema; the Drizzle ones are what drizzle-kit generates for @auth/drizzle-adapter's
# default tables; "legacy" is NextAuth v3's TypeORM schema.

PRISMA_SQLITE = """
CREATE TABLE "User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT,
    "email" TEXT NOT NULL,
    "emailVerified" DATETIME,
    "image" TEXT,
    "password" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
CREATE TABLE "Account" (
    "userId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "providerAccountId" TEXT NOT NULL,
    "refresh_token" TEXT,
    "access_token" TEXT,
    "expires_at" INTEGER,
    "token_type" TEXT,
    "scope" TEXT,
    "id_token" TEXT,
    "session_state" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,

    PRIMARY KEY ("provider", "providerAccountId"),
    CONSTRAINT "Account_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE "Session" (
    "sessionToken" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "expires" DATETIME NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE "VerificationToken" (
    "identifier" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "expires" DATETIME NOT NULL,

    PRIMARY KEY ("identifier", "token")
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE UNIQUE INDEX "Session_sessionToken_key" ON "Session"("sessionToken");
"""

PRISMA_PG = """
CREATE TABLE "User" (
    "id" TEXT NOT NULL,
    "name" TEXT,
    "email" TEXT NOT NULL,
    "emailVerified" TIMESTAMP(3),
    "image" TEXT,
    "password" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
CREATE TABLE "Account" (
    "userId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "providerAccountId" TEXT NOT NULL,
    "refresh_token" TEXT,
    "access_token" TEXT,
    "expires_at" INTEGER,
    "token_type" TEXT,
    "scope" TEXT,
    "id_token" TEXT,
    "session_state" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Account_pkey" PRIMARY KEY ("provider","providerAccountId")
);
CREATE TABLE "Session" (
    "sessionToken" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "expires" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL
);
CREATE TABLE "VerificationToken" (
    "identifier" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "expires" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "VerificationToken_pkey" PRIMARY KEY ("identifier","token")
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE UNIQUE INDEX "Session_sessionToken_key" ON "Session"("sessionToken");
ALTER TABLE "Account" ADD CONSTRAINT "Account_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Session" ADD CONSTRAINT "Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
"""

# @auth/pg-adapter (its docs' schema.sql); runs on SQLite too apart from SERIAL
# / TIMESTAMPTZ, which SQLite accepts as type names.
PG_ADAPTER = """
CREATE TABLE verification_token
(
  identifier TEXT NOT NULL,
  expires TIMESTAMPTZ NOT NULL,
  token TEXT NOT NULL,

  PRIMARY KEY (identifier, token)
);
CREATE TABLE accounts
(
  id SERIAL,
  "userId" INTEGER NOT NULL,
  type VARCHAR(255) NOT NULL,
  provider VARCHAR(255) NOT NULL,
  "providerAccountId" VARCHAR(255) NOT NULL,
  refresh_token TEXT,
  access_token TEXT,
  expires_at BIGINT,
  id_token TEXT,
  scope TEXT,
  session_state TEXT,
  token_type TEXT,

  PRIMARY KEY (id)
);
CREATE TABLE sessions
(
  id SERIAL,
  "userId" INTEGER NOT NULL,
  expires TIMESTAMPTZ NOT NULL,
  "sessionToken" VARCHAR(255) NOT NULL,

  PRIMARY KEY (id)
);
CREATE TABLE users
(
  id SERIAL,
  name VARCHAR(255),
  email VARCHAR(255),
  "emailVerified" TIMESTAMPTZ,
  image TEXT,

  PRIMARY KEY (id)
);
"""

# drizzle-kit output for @auth/drizzle-adapter's default SQLite tables
# (emailVerified: integer, mode "timestamp_ms")
DRIZZLE_SQLITE = """
CREATE TABLE `user` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text,
	`email` text,
	`emailVerified` integer,
	`image` text,
	`hashedPassword` text
);
CREATE UNIQUE INDEX `user_email_unique` ON `user` (`email`);
CREATE TABLE `account` (
	`userId` text NOT NULL,
	`type` text NOT NULL,
	`provider` text NOT NULL,
	`providerAccountId` text NOT NULL,
	`refresh_token` text,
	`access_token` text,
	`expires_at` integer,
	`token_type` text,
	`scope` text,
	`id_token` text,
	`session_state` text,
	PRIMARY KEY(`provider`, `providerAccountId`),
	FOREIGN KEY (`userId`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade
);
CREATE TABLE `session` (
	`sessionToken` text PRIMARY KEY NOT NULL,
	`userId` text NOT NULL,
	`expires` integer NOT NULL,
	FOREIGN KEY (`userId`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade
);
CREATE TABLE `verificationToken` (
	`identifier` text NOT NULL,
	`token` text NOT NULL,
	`expires` integer NOT NULL,
	PRIMARY KEY(`identifier`, `token`)
);
"""

# drizzle-kit output for @auth/drizzle-adapter's default PostgreSQL tables
DRIZZLE_PG = """
CREATE TABLE IF NOT EXISTS "user" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text,
	"email" text,
	"emailVerified" timestamp,
	"image" text,
	"passwordHash" text,
	CONSTRAINT "user_email_unique" UNIQUE("email")
);
CREATE TABLE IF NOT EXISTS "account" (
	"userId" text NOT NULL,
	"type" text NOT NULL,
	"provider" text NOT NULL,
	"providerAccountId" text NOT NULL,
	"refresh_token" text,
	"access_token" text,
	"expires_at" integer,
	"token_type" text,
	"scope" text,
	"id_token" text,
	"session_state" text,
	CONSTRAINT "account_provider_providerAccountId_pk" PRIMARY KEY("provider","providerAccountId")
);
CREATE TABLE IF NOT EXISTS "session" (
	"sessionToken" text PRIMARY KEY NOT NULL,
	"userId" text NOT NULL,
	"expires" timestamp NOT NULL
);
CREATE TABLE IF NOT EXISTS "verificationToken" (
	"identifier" text NOT NULL,
	"token" text NOT NULL,
	"expires" timestamp NOT NULL,
	CONSTRAINT "verificationToken_identifier_token_pk" PRIMARY KEY("identifier","token")
);
ALTER TABLE "account" ADD CONSTRAINT "account_userId_user_id_fk" FOREIGN KEY ("userId") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;
"""

# NextAuth v3 (TypeORM default models): snake_case, provider_id holds the provider's name
LEGACY_SQLITE = """
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name VARCHAR(255),
  email VARCHAR(255),
  email_verified TIMESTAMP,
  image VARCHAR(255),
  password_hash VARCHAR(255),
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE accounts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  compound_id VARCHAR(255) NOT NULL,
  user_id INTEGER NOT NULL,
  provider_type VARCHAR(255) NOT NULL,
  provider_id VARCHAR(255) NOT NULL,
  provider_account_id VARCHAR(255) NOT NULL,
  refresh_token TEXT,
  access_token TEXT,
  access_token_expires TIMESTAMP,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  expires TIMESTAMP NOT NULL,
  session_token VARCHAR(255) NOT NULL,
  access_token VARCHAR(255) NOT NULL
);
"""

BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
SECRET_TOKEN = "ya29.SECRET-ACCESS-TOKEN-never-exported"


@dataclass
class SeedUser:
    id: str
    name: str | None
    email: str | None
    email_verified: dt.datetime | None
    image: str | None
    password: str | None
    created_at: dt.datetime
    accounts: list[tuple[str, str]]  # (type, provider)


def sample_users() -> list[SeedUser]:
    """Four users covering: OAuth with two providers (and a duplicate provider
    row), email-verified with a password, a magic-link user, one with nothing."""
    t = dt.datetime(2024, 3, 1, 12, 30, 45, 123000, tzinfo=dt.timezone.utc)
    return [
        SeedUser("1", "Ada Lovelace", "ada@example.com", None, "https://img.example/ada.png", None,
                 t, [("oauth", "github"), ("oidc", "google"), ("oauth", "github")]),
        SeedUser("2", "Grace Hopper", "grace@example.com", t, None, BCRYPT,
                 t + dt.timedelta(days=1), [("credentials", "credentials")]),
        SeedUser("3", None, "linus@example.com", t + dt.timedelta(hours=5), None, None,
                 t + dt.timedelta(days=2), [("email", "email"), ("webauthn", "passkey")]),
        SeedUser("4", "Émilie du Châtelet", "emilie@example.com", None, None, None,
                 t + dt.timedelta(days=3), []),
    ]


def ms(ts: dt.datetime | None) -> int | None:
    return None if ts is None else int(ts.timestamp() * 1000)


def sqlite_text(ts: dt.datetime | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts.microsecond // 1000:03d}"


def make_sqlite(path: Path, adapter: str, users: list[SeedUser] | None = None) -> Path:
    """A SQLite database of `adapter` ("prisma" | "pg" | "drizzle" | "legacy")
    seeded with `users` (sample_users() by default), each adapter's own way of
    storing times (Prisma: epoch ms; pg: text; Drizzle: epoch ms; legacy: text)."""
    users = sample_users() if users is None else users
    conn = sqlite3.connect(path)
    ddl = {"prisma": PRISMA_SQLITE, "pg": PG_ADAPTER, "drizzle": DRIZZLE_SQLITE, "legacy": LEGACY_SQLITE}[adapter]
    conn.executescript(ddl)
    for u in users:
        acc = [(typ, prov, f"{prov}-{u.id}-{i}") for i, (typ, prov) in enumerate(u.accounts)]
        if adapter == "prisma":
            conn.execute(
                'INSERT INTO "User" (id, name, email, "emailVerified", image, password, "createdAt", "updatedAt") '
                "VALUES (?,?,?,?,?,?,?,?)",
                (u.id, u.name, u.email, ms(u.email_verified), u.image, u.password, ms(u.created_at), ms(u.created_at)),
            )
            conn.executemany(
                'INSERT INTO "Account" ("userId", type, provider, "providerAccountId", access_token, "updatedAt") '
                "VALUES (?,?,?,?,?,?)",
                [(u.id, typ, prov, pid, SECRET_TOKEN, 0) for typ, prov, pid in acc],
            )
        elif adapter == "pg":
            conn.execute(
                'INSERT INTO users (id, name, email, "emailVerified", image) VALUES (?,?,?,?,?)',
                (int(u.id), u.name, u.email, sqlite_text(u.email_verified), u.image),
            )
            conn.executemany(
                'INSERT INTO accounts ("userId", type, provider, "providerAccountId", access_token) VALUES (?,?,?,?,?)',
                [(int(u.id), typ, prov, pid, SECRET_TOKEN) for typ, prov, pid in acc],
            )
        elif adapter == "drizzle":
            conn.execute(
                'INSERT INTO "user" (id, name, email, "emailVerified", image, "hashedPassword") VALUES (?,?,?,?,?,?)',
                (u.id, u.name, u.email, ms(u.email_verified), u.image, u.password),
            )
            conn.executemany(
                'INSERT INTO account ("userId", type, provider, "providerAccountId", access_token) VALUES (?,?,?,?,?)',
                [(u.id, typ, prov, pid, SECRET_TOKEN) for typ, prov, pid in acc],
            )
        elif adapter == "legacy":
            conn.execute(
                "INSERT INTO users (id, name, email, email_verified, image, password_hash, created_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (int(u.id), u.name, u.email, sqlite_text(u.email_verified), u.image, u.password,
                 sqlite_text(u.created_at)),
            )
            conn.executemany(
                "INSERT INTO accounts (compound_id, user_id, provider_type, provider_id, provider_account_id, "
                "access_token) VALUES (?,?,?,?,?,?)",
                [(f"c{u.id}{pid}", int(u.id), typ, prov, pid, SECRET_TOKEN) for typ, prov, pid in acc],
            )
    # a session row (its token must never reach the export)
    if adapter == "legacy":
        conn.execute("INSERT INTO sessions (user_id, expires, session_token, access_token) "
                     "VALUES (1, 0, 'sess-secret', 'x')")
    elif adapter == "prisma":
        conn.execute('INSERT INTO "Session" ("sessionToken", "userId", expires, "updatedAt") '
                     "VALUES ('sess-secret', '1', 0, 0)")
    conn.commit()
    conn.close()
    return path


# --------------------------------------------------------------------------
# A throwaway PostgreSQL cluster.

class PgUnavailable(Exception):
    """PostgreSQL cannot run here (binaries missing, or the cluster did not start)."""


def find_pg_bin() -> Path:
    env = os.environ.get("PG_BIN")
    if env:  # exclusive when set
        if (Path(env) / "initdb").exists() and (Path(env) / "pg_ctl").exists():
            return Path(env)
        raise PgUnavailable(f"PG_BIN={env} holds no initdb/pg_ctl")
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise PgUnavailable("PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH; set PG_BIN)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """initdb + pg_ctl in a temp dir on 127.0.0.1:<free port>, password auth
    (scram) over TCP. As root, everything runs as the `postgres` system user."""

    SUPERUSER = "postgres"
    SUPERPASS = "super-secret-pw"

    def __init__(self) -> None:
        self.bin = find_pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="cm-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                self.cleanup()
                raise PgUnavailable("running as root and there is no `postgres` system user") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            runuser = shutil.which("runuser")
            if not runuser:
                self.cleanup()
                raise PgUnavailable("running as root and `runuser` is missing")
            self._as = [runuser, "-u", "postgres", "--"]

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self._as, *cmd], capture_output=True, text=True, timeout=timeout, cwd=self.dir,
        )

    def start(self) -> "PgCluster":
        pwfile = self.dir / "pw"
        pwfile.write_text(self.SUPERPASS + "\n")
        if self._as:
            pw = pwd.getpwnam("postgres")
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        r = self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", self.SUPERUSER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
        )
        if r.returncode != 0:
            raise PgUnavailable(f"initdb failed: {(r.stderr or r.stdout).strip()[-400:]}")
        last = ""
        for _ in range(3):  # a free port can be taken between the check and the start
            self.port = _free_port()
            opts = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=30 -c shared_buffers=64MB"
            )
            r = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                          "-o", opts, "-w", "-t", "60", "start")
            if r.returncode == 0:
                return self
            last = (r.stderr or r.stdout).strip()
            try:
                last += " | " + self.log.read_text()[-400:]
            except OSError:
                pass
        raise PgUnavailable(f"pg_ctl start failed: {last[-600:]}")

    def url(self, user: str | None = None, password: str | None = None, db: str = "postgres") -> str:
        user = user or self.SUPERUSER
        password = self.SUPERPASS if password is None and user == self.SUPERUSER else password
        auth = f"{user}:{password}@" if password is not None else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{db}"

    def connect(self, db: str = "postgres", autocommit: bool = True):
        import psycopg

        return psycopg.connect(self.url(db=db), autocommit=autocommit)

    def create_database(self, name: str, owner: str | None = None) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))

    def create_role(self, name: str, password: str) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def seed_pg(conn, adapter: str, users: list[SeedUser] | None = None) -> None:
    """Create `adapter`'s tables ("prisma" | "pg" | "drizzle") in `conn`'s
    database and insert `users`."""
    users = sample_users() if users is None else users
    ddl = {"prisma": PRISMA_PG, "pg": PG_ADAPTER, "drizzle": DRIZZLE_PG}[adapter]
    conn.execute(ddl)
    for u in users:
        acc = [(typ, prov, f"{prov}-{u.id}-{i}") for i, (typ, prov) in enumerate(u.accounts)]
        if adapter == "prisma":
            naive = lambda t: None if t is None else t.astimezone(dt.timezone.utc).replace(tzinfo=None)  # noqa: E731
            conn.execute(
                'INSERT INTO "User" (id, name, email, "emailVerified", image, password, "createdAt", "updatedAt") '
                "VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                (u.id, u.name, u.email, naive(u.email_verified), u.image, u.password,
                 naive(u.created_at), naive(u.created_at)),
            )
            for typ, prov, pid in acc:
                conn.execute(
                    'INSERT INTO "Account" ("userId", type, provider, "providerAccountId", access_token, "updatedAt") '
                    "VALUES (%s,%s,%s,%s,%s, now())",
                    (u.id, typ, prov, pid, SECRET_TOKEN),
                )
        elif adapter == "pg":
            conn.execute(
                'INSERT INTO users (id, name, email, "emailVerified", image) VALUES (%s,%s,%s,%s,%s)',
                (int(u.id), u.name, u.email, u.email_verified, u.image),
            )
            for typ, prov, pid in acc:
                conn.execute(
                    'INSERT INTO accounts ("userId", type, provider, "providerAccountId", access_token) '
                    "VALUES (%s,%s,%s,%s,%s)",
                    (int(u.id), typ, prov, pid, SECRET_TOKEN),
                )
        elif adapter == "drizzle":
            naive = lambda t: None if t is None else t.astimezone(dt.timezone.utc).replace(tzinfo=None)  # noqa: E731
            conn.execute(
                'INSERT INTO "user" (id, name, email, "emailVerified", image, "passwordHash") '
                "VALUES (%s,%s,%s,%s,%s,%s)",
                (u.id, u.name, u.email, naive(u.email_verified), u.image, u.password),
            )
            for typ, prov, pid in acc:
                conn.execute(
                    'INSERT INTO account ("userId", type, provider, "providerAccountId", access_token) '
                    "VALUES (%s,%s,%s,%s,%s)",
                    (u.id, typ, prov, pid, SECRET_TOKEN),
                )
