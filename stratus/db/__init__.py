"""Database access: models, migrations and the query functions that use them."""
