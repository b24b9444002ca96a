"""Identity v3 (a Keystone subset): password auth, Fernet tokens, catalog, admin CRUD."""
