"""callport.audio."""
