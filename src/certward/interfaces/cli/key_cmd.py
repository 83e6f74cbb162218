"""``certward key``: check the master key against the database, and rotate it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certward.codes.keys import MASTER_KEY_MISMATCH, MASTER_KEY_NEW_MISSING
from certward.interfaces.cli.common import DbOpt, console, new_typer, root_db

if TYPE_CHECKING:
    from certward.services.keys import MasterKeys
    from certward.storage import SqlStore

key_app = new_typer("The master key that seals the stored private keys: check and rotate it.")


def _open(db: str | None) -> tuple[SqlStore, MasterKeys]:
    from certward.codes.general import STORE_UNAVAILABLE
    from certward.config import load_settings, prepare_database_file
    from certward.services.keys import MasterKeys
    from certward.storage import KeyVault, SqlStore

    settings = load_settings(db or root_db.get())
    try:
        prepare_database_file(settings)
    except OSError as exc:
        raise STORE_UNAVAILABLE(
            f"{exc.filename}: cannot create the store ({exc.strerror})"
        ) from None
    store = SqlStore(settings.database_url, KeyVault())
    return store, MasterKeys(store, settings)


@key_app.command("check")
def key_check(db: DbOpt = None) -> None:
    """Test the master key against the database's check value and every stored private key.
    Exit 0 when it opens them all, 1 otherwise."""
    store, keys = _open(db)
    try:
        result = keys.check()
    finally:
        store.close()
    if result.unreadable:
        raise MASTER_KEY_MISMATCH(
            f"the master key from {result.source} matches the check value, but "
            f"{result.unreadable} of {result.keys} stored private keys do not open under it",
            source=result.source,
        )
    console().print(
        f"The master key from {result.source} matches ({result.kdf}); "
        f"{result.keys} stored private keys open.",
        markup=False,
    )


@key_app.command("rotate")
def key_rotate(
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            metavar="FILE",
            help="The new key (else $CERTWARD_NEW_MASTER_KEY, else a new random key).",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Re-seal every stored private key under a new master key, in one transaction; then
    the key file holds the new key (with $CERTWARD_MASTER_KEY, set it to the new key)."""
    from certward.config import (
        MASTER_KEY_ENV,
        NEW_MASTER_KEY_ENV,
        MasterKey,
        new_key_text,
        read_key_file,
    )

    store, keys = _open(db)
    try:
        if new_key_file is not None:
            try:
                new = read_key_file(new_key_file)
            except FileNotFoundError:
                from certward.codes.general import INPUT_FILE_UNREADABLE

                raise INPUT_FILE_UNREADABLE(f"{new_key_file}: no such file") from None
        elif os.environ.get(NEW_MASTER_KEY_ENV):
            new = MasterKey(os.environ[NEW_MASTER_KEY_ENV].encode(), f"${NEW_MASTER_KEY_ENV}")
        elif os.environ.get(MASTER_KEY_ENV):
            raise MASTER_KEY_NEW_MISSING(
                f"the master key comes from ${MASTER_KEY_ENV}: a new random key would be "
                "known to no one; give the new key"
            )
        else:
            new = MasterKey(new_key_text(), "a new random key")
        done = keys.rotate(new)
    finally:
        store.close()
    out = console()
    out.print(
        f"Re-sealed {done.resealed} private keys and the check value under the new master "
        f"key from {new.source} ({done.kdf}).",
        markup=False,
    )
    if done.installed is not None:
        out.print(f"The key file {done.installed} now holds the new key.", markup=False)
    else:
        out.print(
            f"Set ${MASTER_KEY_ENV} to the new key now: the old key no longer opens the store.",
            markup=False,
        )
