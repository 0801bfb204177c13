"""callport.speech."""
