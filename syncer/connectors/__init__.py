"""The vendors as data: per vendor a module of its streams (`exto.py`, ...) and one of its push
endpoints (`exto_push.py`, ...); `registry.CONNECTORS` names them. This package's face imports
nothing, so a connector module may import its siblings without a circle through it."""
