"""Webhooks: endpoints a tenant registers, events written where things happen, and their
signed deliveries (Standard Webhooks 1.0)."""
