"""Front doors for agents: SDK client, in-process gate, MCP, hooks."""
