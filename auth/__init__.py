"""Users, roles, password hashing, sessions, masking of personal data and the audit log."""
