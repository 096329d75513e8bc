"""Test support for export-db: the Auth.js adapters' schemas (as their tools
create them), a throwaway PostgreSQL cluster and a throwaway MariaDB server
(one per test run, shared with export-ids' MySQL test: `mariadb_or_skip()`).

Not a conftest: test modules and the benchmark load it by path (see `load()` at
the bottom of those files), so no fixture here leaks into other tests.
"""

from __future__ import annotations

import atexit
import datetime as dt
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
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


# --------------------------------------------------------------------------
# A throwaway MariaDB (or MySQL) server, shared by every test module of a run.

class MariaDBUnavailable(Exception):
    """MariaDB/MySQL cannot run here (binaries missing, or the server did not start)."""


def _mysql_binary(*names: str) -> str | None:
    for name in names:
        for found in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
            if found and os.path.exists(found):
                return found
    return None


class MariaDBServer:
    """mariadb-install-db + mariadbd in a temp dir: a unix socket in that dir and
    127.0.0.1:<free port>. As root the server runs as the `mysql` system user
    (--user=mysql). `root` logs in over the socket without a password; `app` /
    APP_PASSWORD over TCP (created by start())."""

    APP_USER = "app"
    APP_PASSWORD = "my-app-pw-4242"

    def __init__(self) -> None:
        self.server = _mysql_binary("mariadbd", "mysqld")
        self.install = _mysql_binary("mariadb-install-db", "mysql_install_db")
        self.client = _mysql_binary("mariadb", "mysql")  # optional: sql() falls back to PyMySQL
        if not (self.server and self.install):
            raise MariaDBUnavailable(
                "no MariaDB/MySQL server binaries (mariadbd and mariadb-install-db, looked in PATH and /usr/sbin)"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="cm-my-"))
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.log = self.dir / "err.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._user: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("mysql")
            except KeyError:
                self.cleanup()
                raise MariaDBUnavailable("running as root and there is no `mysql` system user") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._user = ["--user=mysql"]

    def start(self) -> "MariaDBServer":
        r = subprocess.run(
            [self.install, "--no-defaults", f"--datadir={self.data}", *self._user,
             "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
            capture_output=True, text=True, timeout=180,
        )
        if r.returncode != 0:
            self.cleanup()
            raise MariaDBUnavailable(f"mariadb-install-db failed: {(r.stderr or r.stdout).strip()[-400:]}")
        last = ""
        for _ in range(3):  # a free port can be taken between the check and the start
            self.port = _free_port()
            self.proc = subprocess.Popen(
                [self.server, "--no-defaults", f"--datadir={self.data}", *self._user,
                 f"--socket={self.sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
                 f"--pid-file={self.dir / 'pid'}", f"--log-error={self.log}", "--skip-name-resolve",
                 "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=0",
                 "--innodb-doublewrite=0", "--innodb-use-native-aio=0", "--skip-log-bin",
                 "--character-set-server=utf8mb4", "--max-connections=50"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self.sock.exists():
                    try:
                        self.connect(db=None).close()
                    except Exception as exc:  # noqa: BLE001 - not up yet
                        last = str(exc)
                    else:
                        self._create_app_user()
                        return self
                time.sleep(0.05)  # polling with a deadline: the server gives no other signal
            else:
                last = "did not accept connections within 60 s"
            self._stop_proc()
            try:
                last += " | " + self.log.read_text()[-400:]
            except OSError:
                pass
        self.cleanup()
        raise MariaDBUnavailable(f"mariadbd did not start: {' '.join(last.split())[-600:]}")

    def _create_app_user(self) -> None:
        conn = self.connect(db=None)
        try:
            with conn.cursor() as cur:
                for host in ("127.0.0.1", "localhost"):
                    cur.execute(f"CREATE USER IF NOT EXISTS '{self.APP_USER}'@'{host}' "
                                f"IDENTIFIED BY '{self.APP_PASSWORD}'")
                    cur.execute(f"GRANT ALL ON *.* TO '{self.APP_USER}'@'{host}'")
        finally:
            conn.close()

    def connect(self, db: str | None = None, autocommit: bool = True):
        """root over the unix socket (PyMySQL)."""
        import pymysql

        return pymysql.connect(unix_socket=str(self.sock), user="root", password="", database=db,
                               charset="utf8mb4", autocommit=autocommit, connect_timeout=5)

    def url(self, db: str, *, user: str | None = None, password: str | None = None, scheme: str = "mysql") -> str:
        """A TCP URL (app / APP_PASSWORD unless told otherwise)."""
        user = user or self.APP_USER
        password = self.APP_PASSWORD if password is None and user == self.APP_USER else password
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"

    def socket_url(self, db: str) -> str:
        return f"mysql://root@localhost/{db}?socket={self.sock}"

    def create_database(self, name: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            conn.close()

    def execute_script(self, db: str, script: str) -> None:
        """Run a DDL script (statements separated by `;` at line ends or drizzle-kit's
        `--> statement-breakpoint`)."""
        conn = self.connect(db=db)
        try:
            with conn.cursor() as cur:
                for stmt in split_sql(script):
                    cur.execute(stmt)
        finally:
            conn.close()

    def sql(self, text: str, db: str = "app", *extra: str) -> subprocess.CompletedProcess:
        """Run `text` with the mariadb/mysql client as root over the socket (as an operator would)."""
        if not self.client:
            raise MariaDBUnavailable("no mariadb/mysql client binary")
        args = [self.client, "--no-defaults", "-S", str(self.sock), "-uroot", *extra] + ([db] if db else [])
        return subprocess.run(args, input=text, capture_output=True, text=True, timeout=120)

    def _stop_proc(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        self._stop_proc()
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def split_sql(script: str) -> list[str]:
    """Statements of a DDL script: drizzle-kit's breakpoints, else every `;` outside
    quotes. `--` comment lines are dropped (the fixtures' first lines name their source)."""
    lines = [ln for ln in script.splitlines() if not ln.lstrip().startswith("--") or "statement-breakpoint" in ln]
    text = "\n".join(lines)
    if "--> statement-breakpoint" in text:
        parts = text.split("--> statement-breakpoint")
    else:
        parts, cur, quote = [], [], ""
        for ch in text:
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"`":
                quote = ch
            elif ch == ";":
                parts.append("".join(cur))
                cur = []
                continue
            cur.append(ch)
        parts.append("".join(cur))
    return [p.strip().rstrip(";").strip() for p in parts if p.strip().rstrip(";").strip()]


_SHARED: dict[str, object] = {}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_mariadb() -> MariaDBServer:
    """One MariaDB for the whole test run (started on first use, stopped at exit).
    Raises MariaDBUnavailable (the same reason every time) when it cannot run."""
    if "error" in _SHARED:
        raise MariaDBUnavailable(str(_SHARED["error"]))
    if "server" not in _SHARED:
        try:
            server = MariaDBServer().start()
        except (MariaDBUnavailable, OSError, subprocess.SubprocessError) as exc:
            _SHARED["error"] = str(exc) or type(exc).__name__
            raise MariaDBUnavailable(str(_SHARED["error"])) from None
        _SHARED["server"] = server
        atexit.register(server.stop)
    return _SHARED["server"]  # type: ignore[return-value]


def mariadb_or_skip():
    """For fixtures: the shared server; skip with the reason, or fail in CI."""
    import pytest

    try:
        return shared_mariadb()
    except MariaDBUnavailable as exc:
        if in_ci():
            pytest.fail(f"MariaDB must run in CI for the MySQL tests: {exc}")
        pytest.skip(f"MariaDB/MySQL cannot run on this machine: {exc}")


# --------------------------------------------------------------------------
# Every adapter layout, built from the schema files under tests/fixtures/schemas/
# (each names its source on its first line) and seeded with sample_users().

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "schemas"
UTC = dt.timezone.utc

# what a Supabase database has before any migration: its roles, uuid-ossp, the auth schema
SUPABASE_PREAMBLE = """
DO $$ BEGIN
  CREATE ROLE anon NOLOGIN; CREATE ROLE authenticated NOLOGIN; CREATE ROLE service_role NOLOGIN;
  CREATE ROLE supabase_admin NOLOGIN; CREATE ROLE supabase_auth_admin NOLOGIN; CREATE ROLE dashboard_user NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE SCHEMA IF NOT EXISTS auth;
"""


def fixture_sql(name: str) -> str:
    """A schema file, psql meta-commands (\\set …) dropped."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("\\"))


@dataclass(frozen=True)
class Layout:
    """One adapter's tables on one database, and how that adapter stores values."""

    name: str
    dialect: str  # "postgresql" | "mysql" | "sqlite"
    fixtures: tuple[str, ...]
    users: str  # as written in SQL (schema-qualified where needed)
    accounts: str
    label: str  # export-db's --json "schema"
    tables: tuple[str, str]  # export-db's --json "tables" (users, accounts)
    ids: str = "text"  # "text" (cuid-like), "int" (SERIAL), "uuid"
    times: str = "naive"  # "naive" UTC, "aware", "epoch_ms", "epoch_s", "epoch_ms_text" (TypeORM's varchar)
    password: str | None = None  # the column the app adds for its Credentials provider
    password_type: str = "TEXT"
    preamble: str = ""
    account_ids: bool = False  # the accounts table's own id has no default (TypeORM makes uuids client-side)

    def uid(self, n: str) -> object:
        if self.ids == "int":
            return int(n)
        if self.ids == "uuid":
            return f"00000000-0000-4000-8000-{int(n):012d}"
        return f"clx{int(n):022d}"

    def stored_time(self, ts: dt.datetime | None) -> object:
        if ts is None:
            return None
        if self.times == "aware":
            return ts
        if self.times == "naive":
            return ts.astimezone(UTC).replace(tzinfo=None)
        if self.times == "epoch_ms":
            return int(ts.timestamp() * 1000)
        if self.times == "epoch_s":
            return int(ts.timestamp())
        return str(int(ts.timestamp() * 1000))  # epoch_ms_text

    def exported_time(self, ts: dt.datetime | None) -> str | None:
        if ts is None:
            return None
        if self.times == "epoch_s":
            ts = ts.replace(microsecond=0)
        ts = ts.astimezone(UTC)
        return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"

    def expected(self, users: list[SeedUser] | None = None) -> list[dict]:
        """The rows export-db must write, in id order."""
        rows = []
        for u in sample_users() if users is None else users:
            row = {"id": str(self.uid(u.id)), "name": u.name, "email": u.email,
                   "emailVerified": self.exported_time(u.email_verified), "image": u.image}
            if self.password and u.password:
                row["password"] = u.password
            row["providers"] = sorted({p for t, p in u.accounts if t not in ("email", "credentials", "webauthn")})
            rows.append(row)
        return sorted(rows, key=lambda r: r["id"] if self.ids != "int" else int(r["id"]))


LAYOUTS: dict[str, Layout] = {l.name: l for l in [
    Layout("prisma-postgresql", "postgresql", ("prisma.postgresql.sql",), '"User"', '"Account"',
           "prisma", ("User", "Account"), password="password"),
    Layout("prisma-mysql", "mysql", ("prisma.mysql.sql",), "`User`", "`Account`",
           "prisma", ("User", "Account"), password="passwordHash", password_type="VARCHAR(191) NULL"),
    Layout("prisma-sqlite", "sqlite", ("prisma.sqlite.sql",), '"User"', '"Account"',
           "prisma", ("User", "Account"), times="epoch_ms", password="hashedPassword"),
    Layout("drizzle-t3-postgresql", "postgresql", ("drizzle-t3.postgresql.sql",), '"project1_user"',
           '"project1_account"', "drizzle", ("project1_user", "project1_account"), ids="uuid", times="aware",
           password="password_hash", password_type="varchar(255)"),
    Layout("drizzle-t3-mysql", "mysql", ("drizzle-t3.mysql.sql",), "`project1_user`", "`project1_account`",
           "drizzle", ("project1_user", "project1_account"), ids="uuid",
           password="passwordDigest", password_type="varchar(255)"),
    Layout("drizzle-t3-sqlite", "sqlite", ("drizzle-t3.sqlite.sql",), "`project1_user`", "`project1_account`",
           "drizzle", ("project1_user", "project1_account"), ids="uuid", times="epoch_s",
           password="encrypted_password"),
    Layout("pg-adapter", "postgresql", ("pg-adapter.postgresql.sql",), "users", "accounts",
           "pg", ("users", "accounts"), ids="int", times="aware", password="hashed_password"),
    Layout("supabase", "postgresql",
           ("supabase-auth.postgresql.sql", "supabase-next-auth.postgresql.sql", "supabase-public-users.postgresql.sql"),
           "next_auth.users", "next_auth.accounts", "supabase", ("next_auth.users", "next_auth.accounts"),
           ids="uuid", times="aware", preamble=SUPABASE_PREAMBLE),
    Layout("typeorm-postgresql", "postgresql", ("typeorm.postgresql.sql",), '"UserEntity"', '"AccountEntity"',
           "typeorm", ("UserEntity", "AccountEntity"), ids="uuid", times="epoch_ms_text",
           preamble='CREATE EXTENSION IF NOT EXISTS "uuid-ossp";'),
    Layout("typeorm-mysql", "mysql", ("typeorm.mysql.sql",), "`UserEntity`", "`AccountEntity`",
           "typeorm", ("UserEntity", "AccountEntity"), ids="uuid", times="epoch_ms_text",
           password="passwordHash", password_type="varchar(255) NULL", account_ids=True),
    Layout("kysely-postgresql", "postgresql", ("kysely.postgresql.sql",), '"User"', '"Account"',
           "prisma", ("User", "Account"), ids="uuid", times="aware", password="passwordHash"),
    Layout("kysely-mysql", "mysql", ("kysely.mysql.sql",), "`User`", "`Account`",
           "prisma", ("User", "Account"), ids="uuid", password="password", password_type="varchar(255)"),
]}


def _layout_inserts(layout: Layout, users: list[SeedUser], mark: str) -> list[tuple[str, tuple]]:
    q = (lambda n: f"`{n}`") if layout.dialect == "mysql" else (lambda n: f'"{n}"')
    ucols = ["id", "name", "email", "emailVerified", "image"] + ([layout.password] if layout.password else [])
    out: list[tuple[str, tuple]] = []
    for u in users:
        vals = [layout.uid(u.id), u.name, u.email, layout.stored_time(u.email_verified), u.image]
        if layout.password:
            vals.append(u.password)
        out.append((f"INSERT INTO {layout.users} ({', '.join(q(c) for c in ucols)}) "
                    f"VALUES ({', '.join([mark] * len(vals))})", tuple(vals)))
        for i, (typ, prov) in enumerate(u.accounts):
            acols = ["userId", "type", "provider", "providerAccountId", "access_token"]
            avals: tuple = (layout.uid(u.id), typ, prov, f"{prov}-{u.id}-{i}", SECRET_TOKEN)
            if layout.account_ids:
                acols.insert(0, "id")
                avals = (f"00000000-0000-4000-9000-{int(u.id) * 100 + i:012d}", *avals)
            out.append((f"INSERT INTO {layout.accounts} ({', '.join(q(c) for c in acols)}) "
                        f"VALUES ({', '.join([mark] * len(avals))})", avals))
    return out


def build_layout(layout: Layout, *, name: str, pg: "PgCluster | None" = None, my: "MariaDBServer | None" = None,
                 tmp: Path | None = None, users: list[SeedUser] | None = None) -> str:
    """Create database `name` with `layout`'s schema files, add the app's password
    column, insert `users` (sample_users()) the adapter's way; returns the URL
    export-db reads (MySQL: the `app` user over TCP)."""
    users = sample_users() if users is None else users
    if layout.dialect == "postgresql":
        assert pg is not None
        pg.create_database(name)
        with pg.connect(db=name) as conn:
            if layout.preamble:
                conn.execute(layout.preamble)
            for f in layout.fixtures:
                conn.execute(fixture_sql(f))
            if layout.password:
                conn.execute(f'ALTER TABLE {layout.users} ADD COLUMN "{layout.password}" {layout.password_type}')
            with conn.cursor() as cur:
                for sql_, params in _layout_inserts(layout, users, "%s"):
                    cur.execute(sql_, params)
        return pg.url(db=name)
    if layout.dialect == "mysql":
        assert my is not None
        my.create_database(name)
        for f in layout.fixtures:
            my.execute_script(name, fixture_sql(f))
        conn = my.connect(db=name)
        try:
            with conn.cursor() as cur:
                cur.execute("SET time_zone = '+00:00'")
                if layout.password:
                    cur.execute(f"ALTER TABLE {layout.users} ADD COLUMN `{layout.password}` {layout.password_type}")
                for sql_, params in _layout_inserts(layout, users, "%s"):
                    cur.execute(sql_, params)
        finally:
            conn.close()
        return my.url(name)
    assert tmp is not None
    path = tmp / f"{name}.db"
    conn = sqlite3.connect(path)
    try:
        conn.executescript(fixture_sql(layout.fixtures[0]))
        if layout.password:
            conn.execute(f'ALTER TABLE {layout.users} ADD COLUMN "{layout.password}" TEXT')
        for sql_, params in _layout_inserts(layout, users, "?"):
            conn.execute(sql_, params)
        conn.commit()
    finally:
        conn.close()
    return f"sqlite:///{path}"
