"""Pulumi entry point: settings → nodes → inventory → Ansible. Only wiring lives here."""

from infra.program import main

main()
