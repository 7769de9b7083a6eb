// Taskra admin pages.
