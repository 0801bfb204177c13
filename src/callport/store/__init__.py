"""callport.store."""
