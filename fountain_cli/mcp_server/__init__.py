"""`fountain mcp`: a Model Context Protocol server whose tools drive the story services over HTTP."""
