"""The home page, the "me" page, health check and the web app manifest."""
