"""The device-facing side: edge reports, resolves and heartbeats, over HTTP and MQTT.

``pipeline`` authenticates, validates, limits and hands each message to the
service of the app that owns it; ``http`` and ``mqtt`` carry messages into it;
``endpoints`` names the three messages and their handlers.
"""
