"""The in-app notification inbox (and e-mail when SMTP is configured)."""
