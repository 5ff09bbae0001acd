"""``mugshot-receive``: subscribe to camera boxes and keep every mugshot.

``schema`` (the event schema), ``files`` (link-safe writes), ``index`` (SQLite), ``store``
(files per device), ``intake`` (assembling events from MQTT messages), ``retention``,
``gallery`` (static ``index.html``), ``subscribe`` (the broker side), ``acks`` (acknowledging
only what is on disk), ``web`` (the HTTP app, extra ``receiver``), ``cli``.
"""
from .intake import Receiver
from .subscribe import start_receiving, stop_receiving

__all__ = ["Receiver", "start_receiving", "stop_receiving"]
