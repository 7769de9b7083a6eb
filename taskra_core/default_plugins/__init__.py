"""Taskra's built-in behaviour, written as plugins marked ``trylast`` so installed ones win."""
