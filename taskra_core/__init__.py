"""Taskra's framework-agnostic core: inbox, drafting, jobs, privacy, and the plugin system."""
