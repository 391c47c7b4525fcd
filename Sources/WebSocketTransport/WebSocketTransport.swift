// The WebSocket layer.
