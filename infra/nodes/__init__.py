"""Node targets: each creates or adopts machines and returns `Node` records."""
