"""The HTTP and WebSocket server: execution, transports and the Starlette app."""
