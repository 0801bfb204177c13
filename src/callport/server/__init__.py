"""callport.server."""
