"""Live streams over Channels websockets: attach, exec, events, logs and stats.

Bytes never go through the channel layer: the attach and exec consumers talk straight to
the supervisor's attach socket (link.py). The channel layer only carries "new event"
hints to /ws/events/ consumers (notify.py).
"""
