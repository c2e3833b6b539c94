"""One local node replaced at a time, and only while the other nodes are converged.

Pulumi runs independent replacements together, so a change that replaces every node (limits,
init arguments, the image) would take the whole cluster down at once. Instead the node
provider's diff asks for a turn: within one engine run (one provider process) one node of a
stack gets it, the others turn their replacement into an update that keeps the container and
the state's record of it, so the next `up` sees the same change again. `smack up` repeats
until no node waits. Between turns the run's site.yml converges the new node behind the
roles' health gates, and a node's turn also waits until every other node carries the marker
that site.yml writes last (a new container has none until site.yml has completed on it).
"""

from __future__ import annotations

import threading
from typing import Any

from infra.errors import EngineError
from infra.nodes.engine import ContainerEngine

# Written by site.yml's and scale.yml's last play (playbooks/mark_converged.yml) outside the
# data volumes: it is on a node's root file system, which a replacement starts over.
CONVERGED_MARKER = "/var/lib/smack/converged"

_lock = threading.Lock()
# stack -> the container this process (one engine run) replaces.
_turns: dict[str, str] = {}


def _node(stack: str, container: str) -> str:
    return container.removeprefix(f"smack-{stack}-")


def converged(engine: ContainerEngine, container: str) -> bool:
    return engine.run("exec", container, "test", "-e", CONVERGED_MARKER,
                      check=False).returncode == 0


def take_turn(engine: ContainerEngine, stack: str, container: str) -> str | None:
    """None when `container` may be replaced now, else why it waits.

    Raises when another node of the stack is not running: replacing one more would leave two
    down, which a quorum of three does not survive."""
    with _lock:
        holder = _turns.get(stack)
        if holder is not None:
            return None if holder == container else f"{_node(stack, holder)} is replaced first"
        others = {name: state for name, state in engine.container_states(stack).items()
                  if name != container}
        down = sorted(_node(stack, name) for name, state in others.items() if state != "running")
        if down:
            names = ", ".join(down)
            raise EngineError(
                f"{names} {'is' if len(down) == 1 else 'are'} not running, so replacing "
                f"{_node(stack, container)} now would take one more node down: start "
                f"{'it' if len(down) == 1 else 'them'} again and rerun, or remove a node that "
                f"is gone for good with `smack remove-node NODE --dead`")
        marks = {name: converged(engine, name) for name in others}
        # A stack that never finished a converge has nothing to keep up: no waiting then.
        if any(marks.values()) and not all(marks.values()):
            late = ", ".join(sorted(_node(stack, n) for n, ok in marks.items() if not ok))
            return (f"{late} has not completed site.yml since it was replaced: this run "
                    f"converges it first")
        _turns[stack] = container
        return None


def pending_keys(applied: dict[str, Any], wanted: dict[str, Any], keys: list[str]) -> list[str]:
    """The inputs a node's container does not have yet. A node made before data volumes
    existed has no `volumes` record: it keeps its container until another change replaces it
    (adding volumes alone would replace every node of an existing stack)."""
    return [k for k in keys
            if not (k == "volumes" and applied.get(k) is None) and applied.get(k) != wanted.get(k)]
