"""The SQLModel store: tables, engine, and the queries the API and activities share."""
