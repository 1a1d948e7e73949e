"""The demo city: generated data, flagged as such in the database (meta.demo = "1") and on every screen."""
