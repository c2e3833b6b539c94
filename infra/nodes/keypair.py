"""The stack's SSH key pair as a resource: made once, kept in the Pulumi state (the private key
as a secret), and written back, 0600, when the files on this machine are lost. A fresh clone
with the same backend and passphrase reaches the same nodes with the same key: no new key
pair, so no replaced key pair or instances on `aws`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pulumi
import pulumi.dynamic as dyn

from infra.nodes.sshkey import ensure_key_pair, remove_key_pair, restore_key_pair
from infra.paths import remove_if_empty


def _comment(props: dict[str, Any]) -> str:
    return f"smack-{props['stack']}"


def _outputs(props: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    """`props` with the key pair's halves: the kept ones written back to the files when
    they are lost, or (a state from before keys were kept) the files' own."""
    path = Path(props["key_file"])
    if kept.get("private_key") and kept.get("public_key"):
        restore_key_pair(path, kept["private_key"], kept["public_key"])
        public, private = kept["public_key"], kept["private_key"]
    else:
        public = ensure_key_pair(path, _comment(props))
        private = path.read_text()
    return {**props, "public_key": public, "private_key": private}


def _files_lost(olds: dict[str, Any]) -> bool:
    path = Path(olds["key_file"])
    public = path.with_name(path.name + ".pub")
    try:
        return (path.read_text() != olds.get("private_key")
                or public.read_text().strip() != olds.get("public_key"))
    except OSError:
        return True


class StackKeyPairProvider(dyn.ResourceProvider):
    KEYS: ClassVar[list[str]] = ["key_file"]

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(props["key_file"], _outputs(props, {}))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        if olds.get("key_file") != news.get("key_file"):
            return dyn.DiffResult(changes=True, replaces=["key_file"],
                                  delete_before_replace=True)
        # Lost or changed files (a new clone, a deleted .smack/) are written back by an
        # update, with the same key.
        return dyn.DiffResult(changes=_files_lost(olds), replaces=[])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(_outputs(news, olds))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_, _outputs(props, props))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        key = Path(props["key_file"])
        remove_key_pair(key)
        remove_if_empty(key.parent, key.parent.parent)


class StackKeyPair(dyn.Resource):
    """`public_key` for the nodes; `private_key` a Pulumi secret; `key_file` where Ansible
    finds it."""

    public_key: pulumi.Output[str]
    private_key: pulumi.Output[str]
    key_file: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["private_key"]))
        super().__init__(StackKeyPairProvider(), name,
                         {**props, "public_key": None, "private_key": None}, opts)
