"""A small warehouse backend: the services that loopwarden's clean example suite tests."""
