"""Pieces shared by every domain area: errors, clock, permissions, audit, i18n markers."""
