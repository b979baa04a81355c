"""Tests of deploy/: the proxy, the process manager and the compose file."""
