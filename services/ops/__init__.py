"""Operating oppsuite: container entrypoint, `oppsuite deploy` and `oppsuite validate`."""
