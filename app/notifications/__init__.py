"""Notifications: email now; in-app notifications, reminders and quiet hours build on it."""
