"""A throwaway PostgreSQL cluster on loopback, for ``make run`` and the tests of ``database_query``.

Uses the server binaries already on the machine (Debian keeps them in /usr/lib/postgresql/<v>/bin,
off the PATH). ``initdb`` refuses to run as root, so under root every server command runs as the
``postgres`` user the Debian package creates, in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
USER = "tickwork"
DATABASE = "tickwork"


class PostgresUnavailableError(RuntimeError):
    """Raised when no PostgreSQL server binaries are found, or the cluster does not start."""


def find_server_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (newest version first), if any."""
    candidates: list[str] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for directory in candidates:
        if all(os.access(Path(directory, name), os.X_OK) for name in SERVER_BINARIES):
            return Path(directory)
    return None


def _version_key(path: str) -> tuple[int, ...]:
    digits = Path(path).parent.name
    return tuple(int(part) for part in digits.split(".") if part.isdigit())


class ThrowawayPostgres:
    """initdb + pg_ctl start in a temporary directory; ``stop()`` removes everything."""

    def __init__(self, port: int, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_server_bin()
        if found is None:
            raise PostgresUnavailableError(
                "no PostgreSQL server binaries (initdb, pg_ctl) found on PATH or under /usr/lib/postgresql"
            )
        self.bin_dir = found
        self.port = port
        self.password = secrets.token_urlsafe(18)
        self.root = Path(tempfile.mkdtemp(prefix="tickwork-pg-"))
        self.data_dir = self.root / "data"
        self._run_as = self._server_user()

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> str:
        """Creates and starts the cluster and its database; returns its DATABASE_URL."""
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self._run_as:
            shutil.chown(self.root, user=self._run_as)
            shutil.chown(password_file, user=self._run_as)
        self._server_command(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            USER,
            "--pwfile",
            str(password_file),
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        password_file.unlink()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._server_command(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-o", options, "-w", "start"
        )
        self._create_database()
        return self.url

    def stop(self) -> None:
        # Not started, or already gone: the directory goes either way.
        with contextlib.suppress(PostgresUnavailableError):
            self._server_command("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _create_database(self) -> None:
        import pg8000.native

        connection = pg8000.native.Connection(
            USER, password=self.password, host="127.0.0.1", port=self.port, database="postgres"
        )
        try:
            connection.run(f"CREATE DATABASE {DATABASE}")
        finally:
            connection.close()

    def _server_command(self, name: str, *args: str) -> None:
        command = [str(self.bin_dir / name), *args]
        if self._run_as:
            command = ["runuser", "-u", self._run_as, "--", *command]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if completed.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresUnavailableError(f"{name} failed: {completed.stderr.strip()[-2000:]}\n{tail}".strip())

    @staticmethod
    def _server_user() -> str | None:
        if os.geteuid() != 0:
            return None
        import pwd

        try:
            return pwd.getpwnam("postgres").pw_name
        except KeyError:
            raise PostgresUnavailableError(
                "running as root and there is no 'postgres' user to run the server as (initdb refuses root)"
            ) from None
