"""Users, roles (viewer, operator, admin) and API tokens."""
