# The two set-up commands of the README. Both install whatever is missing first (as root).
.PHONY: up test setup

setup:
	scripts/setup.sh

# Deploy the local stack end to end and print where everything is.
up: setup
	.venv/bin/smack up --stack local --yes

# Run the whole test suite: unit, lint and integration tiers.
test:
	SMACK_SETUP_TESTS=1 scripts/setup.sh
	scripts/test.sh
